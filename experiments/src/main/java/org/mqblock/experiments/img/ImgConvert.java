package org.mqblock.experiments.img;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.mqblock.block.IoVector;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.block.driver.FileDriver;
import org.mqblock.block.driver.ThinImage;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code mqb img convert [-f fmt] [-O output_fmt] [-o options] [-n] [-S sparse_size] filename
 * output_filename}: copies what the source holds (through its whole backing chain) into a new
 * image, as qemu-img convert does. Runs {@link BlockDriver#blockStatus} reports as holes or zeros
 * are not read; into a new image (which reads as zeros) they are not written either, nor are
 * {@code sparse_size} blocks of data that hold only zeros; into an existing one ({@code -n}) they
 * become write-zeroes, which a thin image keeps as zero clusters without data.
 */
@Command(name = "convert", description = "Copy an image into a new raw or thin image, keeping it sparse.")
public final class ImgConvert extends ImgSubcommand {

    /** Bytes read and written at a time (qemu-img convert's buffer). */
    static final int CHUNK = 2 << 20;
    /** A chunk of zeros to compare data with (read-only, shared). */
    private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(CHUNK).asReadOnlyBuffer();

    @Option(names = "-f", paramLabel = "fmt", description = "The source's format, raw or thin (default: probe).")
    String format;

    @Option(names = "-O", paramLabel = "output_fmt", description = "raw (default) or thin.")
    String outputFormat = "raw";

    @Option(names = "-o", paramLabel = "options", description = "Creation options of the output (cluster_size for thin).")
    String options;

    @Option(names = "-n", description = "Write into an existing output image instead of creating it.")
    boolean noCreate;

    @Option(names = "-S", paramLabel = "sparse_size",
            description = "Blocks of this size holding only zeros are not written (default 4k; 0 writes them).")
    String sparseSize = "4k";

    @Option(names = {"-U", "--force-share"}, description = "Read the source without locks (another process may be writing it).")
    boolean forceShare;

    @Parameters(index = "0", paramLabel = "filename")
    Path source;

    @Parameters(index = "1", paramLabel = "output_filename")
    Path target;

    @Override
    int execute() throws IOException {
        ImageFormat in = ImageFormat.of(source, format);
        ImageFormat outFmt = ImageFormat.named(outputFormat);
        CreateOptions o = CreateOptions.parse(options, outFmt);
        long sparse = Sizes.parse(sparseSize);
        if (sparse % 512 != 0 || sparse > CHUNK) {
            throw new IllegalArgumentException("-S " + sparseSize + ": the sparse size must be a multiple of 512 up to "
                    + Sizes.human(CHUNK) + " (0: write every block)");
        }
        if (o.get("backing_file") != null) {
            throw new IllegalArgumentException("convert writes a self-contained image; create an overlay with 'create -b' instead");
        }
        try (BlockDriver src = in.openForReading(source, forceShare)) {
            long length = src.length();
            long rounded = (length + 511) & ~511L;
            if (!noCreate) {
                if (Files.exists(target) && Files.isSameFile(source, target)) {
                    throw new IllegalArgumentException("the output '" + target + "' is the source image");
                }
                if (outFmt == ImageFormat.RAW) {
                    FileDriver.create(target, rounded);
                } else {
                    ThinImage.create(target, rounded, o.clusterSize(ThinImage.DEFAULT_CLUSTER_SIZE), null);
                }
            } else {
                ImageFormat.of(target, outFmt.name); // exists and is what -O says
            }
            try (ImageWriter dst = new ImageWriter(outFmt.openForWriting(target), CHUNK)) {
                if (dst.length() < length) {
                    throw new IOException("Output image '" + target + "' is too small (" + dst.length() + " bytes for "
                            + length + ")");
                }
                copy(src, dst, length, (int) sparse, !noCreate);
                dst.flush();
            }
        }
        return 0;
    }

    /**
     * Copies {@code length} bytes; {@code zeroed}: the target reads as zeros already. Runs are
     * widened to whole sectors for data and narrowed for zeros, so a sector shared by both is
     * copied, never zeroed after its data went in.
     */
    static void copy(BlockDriver src, ImageWriter dst, long length, int sparse, boolean zeroed) throws IOException {
        ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK);
        long last = (length + 511) & ~511L;
        Extents.walk(src, 0, length, e -> {
            if (!e.data() || e.zero()) {
                long start = (e.start() + 511) & ~511L;
                long end = e.end() == length ? last : e.end() & ~511L;
                for (long pos = start; !zeroed && pos < end; pos += CHUNK) {
                    dst.writeZeroes(pos, Math.min(CHUNK, end - pos));
                }
                return;
            }
            long end = Math.min((e.end() + 511) & ~511L, last);
            for (long pos = e.start() & ~511L; pos < end; pos += CHUNK) {
                int n = (int) Math.min(CHUNK, end - pos);
                read(src, pos, buf, n, length);
                writeSparse(dst, pos, buf, n, sparse, zeroed);
            }
        });
    }

    /** Reads {@code n} bytes at {@code pos} into {@code buf}; bytes past the source's end read as zeros. */
    private static void read(BlockDriver src, long pos, ByteBuffer buf, int n, long length) throws IOException {
        int inside = (int) Math.max(0, Math.min(n, length - pos));
        buf.clear().limit(inside);
        if (inside > 0) {
            src.readBlocking(pos, buf); // fills [0, inside), leaves the position
        }
        buf.limit(n);
        IoVector.zero(buf, inside, n - inside);
    }

    /** Writes {@code buf[0, n)} at {@code pos}, skipping (or zeroing) the {@code sparse}-sized blocks that are all zeros. */
    private static void writeSparse(ImageWriter dst, long pos, ByteBuffer buf, int n, int sparse, boolean zeroed)
            throws IOException {
        if (sparse == 0) {
            dst.write(pos, buf.limit(n).position(0));
            buf.clear();
            return;
        }
        int runStart = 0;
        boolean runZero = false;
        for (int at = 0; at < n; at += sparse) {
            boolean z = isZero(buf, at, Math.min(sparse, n - at));
            if (at == 0) {
                runZero = z;
            } else if (z != runZero) {
                writeRun(dst, pos, buf, runStart, at, runZero, zeroed);
                runStart = at;
                runZero = z;
            }
        }
        writeRun(dst, pos, buf, runStart, n, runZero, zeroed);
    }

    private static void writeRun(ImageWriter dst, long pos, ByteBuffer buf, int from, int to, boolean zero, boolean zeroed)
            throws IOException {
        if (!zero) {
            dst.write(pos + from, buf.limit(to).position(from));
            buf.clear(); // the absolute reads of the blocks still to scan check against the limit
        } else if (!zeroed) {
            dst.writeZeroes(pos + from, to - from);
        }
    }

    /** Whether {@code b[from, from + len)} is all zeros: a vectorised compare against {@link #ZEROS}. */
    private static boolean isZero(ByteBuffer b, int from, int len) {
        ByteBuffer view = b.duplicate().limit(from + len).position(from);
        return view.mismatch(ZEROS.duplicate().limit(len)) < 0;
    }
}
