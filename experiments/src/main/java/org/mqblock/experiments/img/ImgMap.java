package org.mqblock.experiments.img;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.block.driver.ImageAccess;
import org.mqblock.block.driver.ThinImage;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code mqb img map [-f fmt] [--output=human|json] [--start-offset=N] [--max-length=N] filename}:
 * the allocation of an image, in qemu-img map's two shapes.
 *
 * <p>JSON lists every run ({@code start, length, depth, present, zero, data} and, where the data
 * lies in a file, {@code offset}); human lists the runs holding data with the file and offset
 * where they lie.
 */
@Command(name = "map", description = "Show the allocation (data, zeros, holes) of an image.")
public final class ImgMap extends ImgSubcommand {

    @Option(names = "-f", paramLabel = "fmt", description = "raw or thin (default: probe).")
    String format;

    @Option(names = "--output", paramLabel = "fmt", description = "human (default) or json.")
    OutputFormat output = OutputFormat.HUMAN;

    @Option(names = {"-s", "--start-offset"}, paramLabel = "offset", description = "First byte to map (default 0).")
    String startOffset = "0";

    @Option(names = {"-l", "--max-length"}, paramLabel = "length", description = "Bytes to map (default: to the end).")
    String maxLength;

    @Option(names = {"-U", "--force-share"}, description = "Take no locks: map an image another process may be writing.")
    boolean forceShare;

    @Parameters(index = "0", paramLabel = "filename")
    Path filename;

    /** One run as map prints it: {@code offset} -1 and {@code file} null where unknown. */
    record Entry(long start, long length, int depth, boolean present, boolean zero, boolean data, long offset, String file) {}

    @Override
    int execute() throws IOException {
        ImageFormat fmt = ImageFormat.of(filename, format);
        long start = Sizes.parse(startOffset);
        List<Entry> all = entries(filename, fmt, forceShare);
        long end = maxLength == null ? Long.MAX_VALUE : start + Sizes.parse(maxLength);
        List<Entry> entries = new ArrayList<>();
        for (Entry e : all) {
            long from = Math.max(e.start(), start);
            long to = Math.min(e.start() + e.length(), end);
            if (from < to) {
                entries.add(new Entry(from, to - from, e.depth(), e.present(), e.zero(), e.data(),
                        e.offset() < 0 ? -1 : e.offset() + (from - e.start()), e.file()));
            }
        }
        out().print(output == OutputFormat.JSON ? json(entries) : human(entries));
        return 0;
    }

    /**
     * Every run of the image. A raw file's runs come from its {@link BlockDriver#blockStatus}
     * (data, or a hole reading zeros; each byte maps to itself). A thin image's come from the thin
     * library's map (which layer holds each cluster, where in its file), and the runs it leaves to
     * a raw base image are split again by that file's block status, as qemu-img splits them.
     */
    static List<Entry> entries(Path path, ImageFormat fmt, boolean shared) throws IOException {
        List<Entry> out = new ArrayList<>();
        if (fmt == ImageFormat.RAW) {
            try (BlockDriver raw = ImageFormat.RAW.openForReading(path, shared)) {
                long length = raw.length();
                rawRuns(out, raw, path.toString(), 0, 0, length);
                long padded = (length + 511) & ~511L;
                if (padded > length) { // the last sector's padding past the end of the file, as qemu-img lists it
                    add(out, new Entry(length, padded - length, 0, true, true, false, length, path.toString()));
                }
            }
            return out;
        }
        List<ImageInfo> chain = ImageInfo.of(path, fmt, true, shared);
        ImageInfo bottom = chain.get(chain.size() - 1);
        int rawDepth = chain.size() - 1;
        List<ThinImage.Extent> runs = ThinImage.map(path, shared ? ImageAccess.READ_SHARED : ImageAccess.READ);
        try (BlockDriver rawBase = bottom.format() == ImageFormat.RAW
                ? ImageFormat.RAW.openForReading(Path.of(bottom.filename()), shared) : null) {
            for (ThinImage.Extent e : runs) {
                if (rawBase != null && e.depth() == rawDepth && e.data()) {
                    rawRuns(out, rawBase, bottom.filename(), rawDepth, e.start(), e.length());
                } else {
                    String file = e.depth() == 0 && e.file() != null ? path.toString() : e.file();
                    add(out, new Entry(e.start(), e.length(), e.depth(), e.present(), e.zero(), e.data(), e.hostOffset(), file));
                }
            }
        }
        return out;
    }

    /** The runs of {@code [start, start + length)} of a raw file, at {@code depth} of a chain; each byte lies at its own offset. */
    private static void rawRuns(List<Entry> out, BlockDriver raw, String name, int depth, long start, long length)
            throws IOException {
        for (Extents.Extent x : Extents.of(raw, start, length)) {
            add(out, new Entry(x.start(), x.length(), depth, true, x.zero(), x.data(), x.start(), name));
        }
    }

    /** Appends {@code e}, merged into the last entry when it continues it in every field. */
    private static void add(List<Entry> out, Entry e) {
        if (!out.isEmpty()) {
            Entry l = out.get(out.size() - 1);
            if (l.start() + l.length() == e.start() && l.depth() == e.depth() && l.present() == e.present()
                    && l.zero() == e.zero() && l.data() == e.data() && java.util.Objects.equals(l.file(), e.file())
                    && (l.offset() < 0) == (e.offset() < 0) && (l.offset() < 0 || l.offset() + l.length() == e.offset())) {
                out.set(out.size() - 1, new Entry(l.start(), l.length() + e.length(), l.depth(), l.present(), l.zero(),
                        l.data(), l.offset(), l.file()));
                return;
            }
        }
        out.add(e);
    }

    /** qemu-img map's JSON: one object per line, in an array. */
    static String json(List<Entry> entries) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < entries.size(); i++) {
            Entry e = entries.get(i);
            b.append(i > 0 ? ",\n" : "");
            b.append("{ \"start\": ").append(e.start()).append(", \"length\": ").append(e.length())
                    .append(", \"depth\": ").append(e.depth()).append(", \"present\": ").append(e.present())
                    .append(", \"zero\": ").append(e.zero()).append(", \"data\": ").append(e.data());
            if (e.offset() >= 0) {
                b.append(", \"offset\": ").append(e.offset());
            }
            b.append('}');
        }
        return b.append("]\n").toString();
    }

    /** qemu-img map's human form: the runs holding data, in columns of 16. */
    static String human(List<Entry> entries) {
        StringBuilder b = new StringBuilder(String.format("%-16s%-16s%-16s%s%n", "Offset", "Length", "Mapped to", "File"));
        for (Entry e : entries) {
            if (e.data() && e.offset() >= 0) {
                b.append(String.format("%-16s%-16s%-16s%s%n", hex(e.start()), hex(e.length()),
                        hex(e.offset()), e.file()));
            }
        }
        return b.toString();
    }

    /** C's {@code %#x}: {@code 0x10000}, and {@code 0} without the prefix. */
    private static String hex(long v) {
        return v == 0 ? "0" : "0x" + Long.toHexString(v);
    }
}
