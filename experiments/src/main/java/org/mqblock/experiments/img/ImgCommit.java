package org.mqblock.experiments.img;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.block.driver.ThinDriver;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code mqb img commit [-f fmt] -d filename}: writes what a thin overlay holds into its backing
 * image (its data, and zeros where it reads as zeros over backing data), so the backing then reads
 * as the overlay did. qemu-img then empties the overlay unless {@code -d}; the thin library has no
 * API to drop an overlay's clusters back to "unallocated" yet, so {@code -d} is required.
 */
@Command(name = "commit", description = "Write a thin overlay's contents into its backing image.")
public final class ImgCommit extends ImgSubcommand {

    @Option(names = "-f", paramLabel = "fmt", description = "thin (default: probe).")
    String format;

    @Option(names = "-d", description = "Keep the overlay's contents (do not empty it).")
    boolean keep;

    @Parameters(index = "0", paramLabel = "filename")
    Path filename;

    @Override
    int execute() throws IOException {
        ImageFormat fmt = ImageFormat.of(filename, format);
        if (fmt != ImageFormat.THIN) {
            throw new IllegalArgumentException("'" + filename + "' is a raw image: it has no backing file to commit into");
        }
        if (!keep) {
            throw new IllegalArgumentException("emptying the overlay after a commit needs the thin library's commit, which"
                    + " this build lacks: give -d to commit and keep the overlay's contents");
        }
        try (ThinDriver top = ThinDriver.open(filename, null)) {
            BlockDriver base = top.backing();
            if (base == null) {
                throw new IllegalArgumentException("'" + filename + "' has no backing file to commit into");
            }
            Path basePath = Path.of(base.filename());
            ImageFormat baseFmt = ImageFormat.probe(basePath);
            try (ChainDepth layers = new ChainDepth(top);
                 ImageWriter dst = new ImageWriter(baseFmt.open(basePath), ImgConvert.CHUNK)) {
                commit(top, base, layers, dst);
                dst.flush();
            }
        }
        out().println("Image committed.");
        return 0;
    }

    /** Copies the runs the top layer decides (data at depth 0; zeros over backing data) into the backing. */
    private static void commit(ThinDriver top, BlockDriver base, ChainDepth layers, ImageWriter dst) throws IOException {
        long length = Math.min(top.length(), base.length());
        ByteBuffer buf = ByteBuffer.allocateDirect(ImgConvert.CHUNK);
        for (Extents.Extent e : Extents.of(top, 0, length)) {
            if (!e.data()) {
                // Reads as zeros in the overlay: zero what the backing still holds there.
                for (Extents.Extent b : Extents.of(base, e.start(), e.length())) {
                    if (b.data()) {
                        dst.writeZeroes(b.start(), b.length());
                    }
                }
                continue;
            }
            for (long pos = e.start(); pos < e.end(); ) {
                ChainDepth.Depth d = layers.depthAt(pos, e.end() - pos);
                long runEnd = pos + Math.min(d.bytes(), e.end() - pos);
                if (d.depth() == 0) {
                    for (long p = pos; p < runEnd; p += ImgConvert.CHUNK) {
                        int n = (int) Math.min(ImgConvert.CHUNK, runEnd - p);
                        buf.clear().limit(n);
                        top.readBlocking(p, buf); // fills [0, n), leaves the position
                        dst.write(p, buf);
                    }
                }
                pos = runEnd;
            }
        }
    }
}
