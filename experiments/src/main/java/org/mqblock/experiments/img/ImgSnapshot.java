package org.mqblock.experiments.img;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.block.driver.ThinImage;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code mqb img snapshot -l | -c overlay [-o cluster_size=N] filename}. Thin images have no
 * internal snapshots; their snapshots are external, as {@code blockdev-snapshot-sync} makes them:
 * {@code -c} creates a thin overlay backed by {@code filename}, which from then on must not be
 * written (write to the overlay), and {@code -l} lists the backing chain. qemu-img's {@code -a}
 * and {@code -d} (apply, delete an internal snapshot) have no meaning here: {@code commit} merges an
 * overlay into its backing, {@code rebase} takes a layer out of the chain.
 */
@Command(name = "snapshot", description = "Take an external snapshot (a thin overlay) or list the backing chain.")
public final class ImgSnapshot extends ImgSubcommand {

    @ArgGroup(multiplicity = "1")
    Action action;

    static final class Action {
        @Option(names = "-l", description = "List the backing chain, top first.")
        boolean list;

        @Option(names = "-c", paramLabel = "overlay", description = "Create a thin overlay backed by filename.")
        Path create;

        @Option(names = {"-a", "-d"}, paramLabel = "snapshot", hidden = true)
        String internal;
    }

    @Option(names = "-o", paramLabel = "options", description = "cluster_size of the overlay (64k).")
    String options;

    @Parameters(index = "0", paramLabel = "filename")
    Path filename;

    @Override
    int execute() throws IOException {
        if (action.internal != null) {
            throw new IllegalArgumentException("thin images have no internal snapshots to apply or delete: 'commit' merges an"
                    + " overlay into its backing, 'rebase' takes a layer out of a chain");
        }
        ImageFormat fmt = ImageFormat.of(filename, null);
        PrintStream out = out();
        if (action.list) {
            out.println("Backing chain of " + filename + ":");
            int depth = 0;
            for (ImageInfo i : ImageInfo.of(filename, fmt, true, false)) {
                out.printf("%-6d%-6s%-28s%s%n", depth++, i.format().name, Sizes.humanWithBytes(i.virtualSize()), i.filename());
            }
            return 0;
        }
        Path overlay = action.create;
        if (java.nio.file.Files.exists(overlay)) {
            throw new IllegalArgumentException("'" + overlay + "' exists: a snapshot creates a new overlay");
        }
        int cluster = CreateOptions.parse(options, ImageFormat.THIN).clusterSize(ThinImage.DEFAULT_CLUSTER_SIZE);
        try (BlockDriver base = fmt.openForReading(filename, false)) {
            ThinImage.createOverlay(overlay, base, cluster);
        }
        out.println("Snapshot '" + overlay + "' created over '" + filename + "': write to the overlay from now on;"
                + " the backing image must stay unchanged.");
        return 0;
    }
}
