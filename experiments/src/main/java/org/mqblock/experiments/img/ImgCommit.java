package org.mqblock.experiments.img;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.block.driver.ImageAccess;
import org.mqblock.block.driver.ThinImage;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code mqb img commit [-f fmt] [-d] filename}: writes what a thin overlay holds (its data, and
 * zeros where it has zero clusters) into its backing image, so the backing then reads as the
 * overlay did, and empties the overlay (the thin library's commit: durable in the backing before
 * the overlay forgets it). With {@code -d} the overlay keeps its clusters; the copy then runs
 * through the block layer into the backing.
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
        ThinImage.Info info = ThinImage.info(filename, ImageAccess.READ);
        if (info.backingPath() == null) {
            throw new IllegalArgumentException("'" + filename + "' has no backing file to commit into");
        }
        if (!keep) {
            ThinImage.commit(filename);
        } else {
            commitKeeping(filename, info.backingPath());
        }
        out().println("Image committed.");
        return 0;
    }

    /**
     * The runs the overlay itself decides (depth 0 of its map) go into the backing: data copied,
     * zero clusters as write-zeroes. The overlay is read without locks, since the backing below it
     * is open for writing here (a reader's lock on it would refuse that writer); its map is taken
     * first, under a reader's locks, so a writer of the overlay at that moment is refused.
     */
    private static void commitKeeping(Path top, Path base) throws IOException {
        var runs = ThinImage.map(top, ImageAccess.READ);
        ImageFormat baseFmt = ImageFormat.probe(base);
        try (ImageWriter dst = new ImageWriter(baseFmt.openForWriting(base), ImgConvert.CHUNK);
             BlockDriver overlay = ThinImage.open(top, ImageAccess.READ_SHARED)) {
            ByteBuffer buf = ByteBuffer.allocateDirect(ImgConvert.CHUNK);
            for (ThinImage.Extent e : runs) {
                if (e.depth() != 0 || !e.present()) {
                    continue;
                }
                if (e.start() + e.length() > dst.length()) {
                    throw new IOException("'" + top + "' holds data at " + e.start() + ", past the end of its backing image ("
                            + dst.length() + " bytes): resize the backing image first");
                }
                for (long p = e.start(); p < e.start() + e.length(); p += ImgConvert.CHUNK) {
                    int n = (int) Math.min(ImgConvert.CHUNK, e.start() + e.length() - p);
                    if (e.zero()) {
                        dst.writeZeroes(p, n);
                    } else {
                        buf.clear().limit(n);
                        overlay.readBlocking(p, buf); // fills [0, n), leaves the position
                        dst.write(p, buf);
                    }
                }
            }
            dst.flush();
        }
    }
}
