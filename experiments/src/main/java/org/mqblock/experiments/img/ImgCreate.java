package org.mqblock.experiments.img;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.block.driver.FileDriver;
import org.mqblock.block.driver.ThinImage;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code mqb img create [-f fmt] [-o options] [-b backing -F backing_fmt] [-u] filename [size]}:
 * a new empty image; a thin image with a backing file takes the backing's size unless given one.
 * Sizes round up to 512 bytes, the sector the block layer addresses, as qemu-img rounds them.
 */
@Command(name = "create", description = "Create a new raw or thin image.")
public final class ImgCreate extends ImgSubcommand {

    @Option(names = "-f", paramLabel = "fmt", description = "raw (default) or thin.")
    String format = "raw";

    @Option(names = "-o", paramLabel = "options", description = "size, cluster_size (thin, 64k), backing_file, backing_fmt.")
    String options;

    @Option(names = "-b", paramLabel = "backing_file", description = "Backing image (thin only), relative to the new image's directory.")
    String backing;

    @Option(names = "-F", paramLabel = "backing_fmt", description = "The backing image's format (raw or thin).")
    String backingFormat;

    @Option(names = "-u", description = "Unsafe: do not open the backing file (the size must be given).")
    boolean unsafe;

    @Parameters(index = "0", paramLabel = "filename")
    Path filename;

    @Parameters(index = "1", arity = "0..1", paramLabel = "size", description = "e.g. 1G, 512M, 1.5G, 65536.")
    String size;

    @Override
    int execute() throws IOException {
        ImageFormat fmt = ImageFormat.named(format);
        CreateOptions o = CreateOptions.parse(options, fmt);
        String backingFile = backing != null ? backing : o.get("backing_file");
        String backingFmt = backingFormat != null ? backingFormat : o.get("backing_fmt");
        String sizeText = size != null ? size : o.get("size");
        long bytes = sizeText == null ? -1 : Sizes.parse(sizeText);
        if (backingFile != null && fmt == ImageFormat.RAW) {
            throw new IllegalArgumentException(filename + ": Backing file not supported for file format 'raw'");
        }
        if (backingFile != null && !unsafe) {
            long backingSize = checkBacking(filename, backingFile, backingFmt);
            bytes = bytes < 0 ? backingSize : bytes;
        } else if (backingFile != null && backingFmt == null) {
            throw new IllegalArgumentException(filename + ": Backing file specified without backing format (-F raw|thin)");
        }
        if (bytes < 0) {
            throw new IllegalArgumentException(filename + ": Image creation needs a size parameter");
        }
        long rounded = (bytes + 511) & ~511L;
        StringBuilder line = new StringBuilder("Formatting '" + filename + "', fmt=" + fmt.name);
        if (fmt == ImageFormat.RAW) {
            FileDriver.create(filename, rounded);
            line.append(" size=").append(bytes);
        } else {
            int cluster = o.clusterSize(ThinImage.DEFAULT_CLUSTER_SIZE);
            ThinImage.create(filename, rounded, cluster, backingFile);
            line.append(" cluster_size=").append(cluster).append(" size=").append(bytes);
            if (backingFile != null) {
                line.append(" backing_file=").append(backingFile).append(" backing_fmt=").append(backingFmt);
            }
        }
        out().println(line);
        return 0;
    }

    /**
     * Opens the backing image as the new image will (relative to its directory), checks {@code -F}
     * against what the file holds, and returns its size.
     */
    static long checkBacking(Path image, String backingFile, String backingFmt) throws IOException {
        Path resolved = ThinImage.resolveBacking(image, backingFile);
        if (!Files.exists(resolved)) {
            throw new IOException(image + ": Could not open '" + backingFile + "' (looked for " + resolved
                    + "): No such file or directory. Could not open backing image.");
        }
        ImageFormat probed = ImageFormat.probe(resolved);
        if (backingFmt == null) {
            throw new IllegalArgumentException(image + ": Backing file specified without backing format (-F "
                    + probed.name + "). Detected format of " + probed.name + ".");
        }
        checkFormat(image, backingFile, backingFmt, probed);
        try (BlockDriver b = probed.openForReading(resolved, false)) {
            return b.length();
        }
    }

    /** {@code -F}: what the backing file holds must be what the user says it is. */
    static void checkFormat(Path image, String backingFile, String backingFmt, ImageFormat probed) {
        if (ImageFormat.named(backingFmt) != probed) {
            // The thin header records no backing format: the driver tells the two apart by the magic.
            throw new IllegalArgumentException(image + ": backing file '" + backingFile + "' holds a " + probed.name
                    + " image, not " + backingFmt + " (thin images find their backing's format by its magic)");
        }
    }
}
