package org.mqblock.experiments.img;

import java.io.IOException;
import java.nio.file.Path;
import org.mqblock.block.driver.BlockDriver;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code mqb img resize [-f fmt] [--shrink] filename [+|-]size}: grows, or with {@code --shrink}
 * shrinks, the virtual size (rounded up to 512 bytes). Put {@code --} before a negative size.
 */
@Command(name = "resize", description = "Change an image's virtual size.")
public final class ImgResize extends ImgSubcommand {

    @Option(names = "-f", paramLabel = "fmt", description = "raw or thin (default: probe).")
    String format;

    @Option(names = "--shrink", description = "Allow the size to shrink (the data past the new end is lost).")
    boolean shrink;

    @Parameters(index = "0", paramLabel = "filename")
    Path filename;

    @Parameters(index = "1", paramLabel = "size", description = "New size (1G), or a change (+512M, -1G).")
    String size;

    @Override
    int execute() throws IOException {
        ImageFormat fmt = ImageFormat.of(filename, format);
        try (BlockDriver image = fmt.openForWriting(filename)) {
            long old = image.length();
            String s = size.trim();
            long wanted;
            if (s.startsWith("+")) {
                wanted = Math.addExact(old, Sizes.parse(s.substring(1)));
            } else if (s.startsWith("-")) {
                wanted = old - Sizes.parse(s.substring(1));
            } else {
                wanted = Sizes.parse(s);
            }
            if (wanted < 0) {
                throw new IllegalArgumentException("New image size must be positive (" + old + " " + s + ")");
            }
            long rounded = (wanted + 511) & ~511L;
            if (rounded < old && !shrink) {
                throw new IllegalArgumentException("Use the --shrink option to perform a shrink operation (the data"
                        + " beyond the new end, " + Sizes.human(old - rounded) + ", would be lost)");
            }
            image.truncate(rounded);
            image.flushBlocking();
        }
        out().println("Image resized.");
        return 0;
    }
}
