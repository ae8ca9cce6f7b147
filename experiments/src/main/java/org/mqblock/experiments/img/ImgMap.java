package org.mqblock.experiments.img;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.block.driver.ThinDriver;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code mqb img map [-f fmt] [--output=human|json] [--start-offset=N] [--max-length=N] filename}:
 * the allocation of an image from {@link BlockDriver#blockStatus}, in qemu-img map's two shapes.
 *
 * <p>JSON lists every run ({@code start, length, depth, present, zero, data} and, for raw,
 * {@code offset}); human lists the runs holding data with where they live. A raw file maps each
 * byte to itself; a thin image's host offsets are not in the thin library's public API, so its
 * runs carry no {@code offset} and human output shows {@code -} there.
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

    @Parameters(index = "0", paramLabel = "filename")
    Path filename;

    /** One run as map prints it: {@code offset} -1 and {@code file} null where unknown. */
    record Entry(long start, long length, int depth, boolean present, boolean zero, boolean data, long offset, String file) {}

    @Override
    int execute() throws IOException {
        ImageFormat fmt = ImageFormat.of(filename, format);
        long start = Sizes.parse(startOffset);
        try (BlockDriver image = fmt.open(filename)) {
            long length = maxLength == null ? image.length() : Sizes.parse(maxLength);
            List<Entry> entries = entries(image, filename.toString(), start, length);
            PrintStream out = out();
            if (output == OutputFormat.JSON) {
                out.print(json(entries));
            } else {
                out.print(human(entries));
            }
        }
        return 0;
    }

    /** The runs of {@code [start, start + length)}, split where the layer holding the data changes. */
    static List<Entry> entries(BlockDriver image, String filename, long start, long length) throws IOException {
        List<Entry> out = new ArrayList<>();
        boolean raw = !(image instanceof ThinDriver);
        int chainLength = 0;
        for (BlockDriver d = image; d instanceof ThinDriver t; d = t.backing()) {
            chainLength++;
        }
        try (ChainDepth layers = raw ? null : new ChainDepth(image)) {
            for (Extents.Extent e : Extents.of(image, start, length)) {
                if (raw) {
                    out.add(new Entry(e.start(), e.length(), 0, true, e.zero(), e.data(), e.start(), filename));
                    continue;
                }
                if (!e.data()) {
                    // Nothing in the chain holds it: qemu-img's "present": false at the bottom of the chain.
                    add(out, new Entry(e.start(), e.length(), chainLength, false, e.zero(), false, -1, null));
                    continue;
                }
                for (long pos = e.start(); pos < e.end(); ) {
                    ChainDepth.Depth d = layers.depthAt(pos, e.end() - pos);
                    long n = Math.min(d.bytes(), e.end() - pos);
                    String file = layerName(image, filename, d.depth());
                    add(out, new Entry(pos, n, d.depth(), true, e.zero(), true, -1, file));
                    pos += n;
                }
            }
        }
        return out;
    }

    private static String layerName(BlockDriver image, String filename, int depth) {
        BlockDriver d = image;
        for (int i = 0; i < depth && d instanceof ThinDriver t; i++) {
            d = t.backing();
        }
        return depth == 0 ? filename : d.filename();
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
            if (e.data()) {
                b.append(String.format("%-16s%-16s%-16s%s%n", hex(e.start()), hex(e.length()),
                        e.offset() >= 0 ? hex(e.offset()) : "-", e.file()));
            }
        }
        return b.toString();
    }

    /** C's {@code %#x}: {@code 0x10000}, and {@code 0} without the prefix. */
    private static String hex(long v) {
        return v == 0 ? "0" : "0x" + Long.toHexString(v);
    }
}
