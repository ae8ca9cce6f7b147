package org.mqblock.experiments.img;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.mqblock.block.IoVector;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.block.driver.ImageAccess;
import org.mqblock.block.driver.ThinImage;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code mqb img rebase [-f fmt] [-u] -b backing_file [-F backing_fmt] filename}: puts a thin
 * image over another backing image ({@code -b ""}: none). Safe mode (the default) first copies into
 * the image every cluster it does not hold itself whose content differs between the old backing
 * chain and the new one, so the image reads the same afterwards; {@code -u} only changes the name
 * (for a backing file that was moved or renamed).
 */
@Command(name = "rebase", description = "Change the backing file of a thin image.")
public final class ImgRebase extends ImgSubcommand {

    @Option(names = "-f", paramLabel = "fmt", description = "thin (default: probe).")
    String format;

    @Option(names = "-b", required = true, paramLabel = "backing_file",
            description = "The new backing image, relative to the image's directory; \"\" for none.")
    String backing;

    @Option(names = "-F", paramLabel = "backing_fmt", description = "The new backing image's format (default: probe).")
    String backingFormat;

    @Option(names = "-u", description = "Unsafe: change the name only, copying nothing.")
    boolean unsafe;

    @Parameters(index = "0", paramLabel = "filename")
    Path filename;

    @Override
    int execute() throws IOException {
        ImageFormat fmt = ImageFormat.of(filename, format);
        if (fmt != ImageFormat.THIN) {
            throw new IllegalArgumentException("'" + filename + "' is a raw image: it has no backing file to change");
        }
        String newName = backing.isEmpty() ? null : backing;
        Path newPath = newName == null ? null : ThinImage.resolveBacking(filename, newName);
        if (newPath != null) {
            if (!Files.exists(newPath)) {
                throw new IOException("Could not open new backing file '" + newPath + "': No such file or directory");
            }
            if (backingFormat != null) {
                ImgCreate.checkFormat(filename, newName, backingFormat, ImageFormat.probe(newPath));
            }
        }
        if (!unsafe) {
            copyDifferences(filename, ThinImage.info(filename, ImageAccess.READ).backingPath(), newPath);
        }
        ThinImage.rebase(filename, newName);
        return 0;
    }

    /**
     * Writes into {@code image}, cluster by cluster, what its old backing chain shows wherever the
     * image holds nothing itself and the new backing shows something else (zeros past either
     * end, and for no backing at all).
     */
    private static void copyDifferences(Path image, Path oldPath, Path newPath) throws IOException {
        var runs = ThinImage.map(image, ImageAccess.READ);
        int cluster = ThinImage.info(image, ImageAccess.READ).clusterSize();
        try (BlockDriver oldBacking = oldPath == null ? null : ImageFormat.probe(oldPath).openForReading(oldPath, false);
             BlockDriver newBacking = newPath == null ? null : ImageFormat.probe(newPath).openForReading(newPath, false);
             ImageWriter dst = new ImageWriter(ImageFormat.THIN.openForWriting(image), cluster)) {
            ByteBuffer was = ByteBuffer.allocateDirect(cluster);
            ByteBuffer will = ByteBuffer.allocateDirect(cluster);
            for (ThinImage.Extent e : runs) {
                if (e.depth() == 0 && e.present()) {
                    continue; // the image decides these bytes itself
                }
                long end = e.start() + e.length();
                for (long pos = e.start(); pos < end; ) {
                    int n = (int) Math.min(cluster - (pos % cluster), end - pos);
                    read(oldBacking, pos, was, n);
                    read(newBacking, pos, will, n);
                    if (was.mismatch(will) >= 0) {
                        dst.write(pos, was);
                    }
                    pos += n;
                }
            }
            dst.flush();
        }
    }

    /** {@code n} bytes of {@code image} at {@code pos} into {@code buf} (position 0, limit n); zeros past its end or without one. */
    private static void read(BlockDriver image, long pos, ByteBuffer buf, int n) throws IOException {
        int inside = image == null ? 0 : (int) Math.max(0, Math.min(n, image.length() - pos));
        buf.clear();
        if (inside > 0) {
            image.readBlocking(pos, buf.limit(inside)); // fills [0, inside), leaves the position
        }
        buf.limit(n);
        IoVector.zero(buf, inside, n - inside);
    }
}
