package org.mqblock.experiments.img;

import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.mqblock.block.driver.ImageAccess;
import org.mqblock.block.driver.ThinImage;
import org.mqblock.experiments.JsonOut;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code mqb img check [-f fmt] [--output=human|json] [-r leaks|all] filename}: the thin image's
 * consistency, with qemu-img check's report and exit status: 0 consistent, 2 corrupt, 3 only
 * leaked clusters, 1 the check itself failed, 63 the format has nothing to check (raw).
 */
@Command(name = "check", description = "Check a thin image for corruption and leaked clusters.")
public final class ImgCheck extends ImgSubcommand {

    static final int CORRUPT = 2;
    static final int LEAKS = 3;
    static final int NOT_SUPPORTED = 63;

    @Option(names = "-f", paramLabel = "fmt", description = "raw or thin (default: probe).")
    String format;

    @Option(names = "--output", paramLabel = "fmt", description = "human (default) or json.")
    OutputFormat output = OutputFormat.HUMAN;

    @Option(names = "-r", paramLabel = "leaks|all",
            description = "Repair leaked clusters (leaks), or errors too (all): a bad entry is cleared, a shared cluster copied.")
    Repair repair;

    @Option(names = {"-U", "--force-share"}, description = "Take no locks: check an image another process may be writing.")
    boolean forceShare;

    @Parameters(index = "0", paramLabel = "filename")
    Path filename;

    enum Repair {
        LEAKS,
        ALL
    }

    /** What one pass of the check found, with what a repair before it fixed. */
    record Report(String filename, long totalClusters, long allocatedClusters, long corruptions, long leaks,
            long imageEndOffset, long leaksFixed, long corruptionsFixed, long checkErrors) {}

    @Override
    int execute() throws IOException {
        ImageFormat fmt = ImageFormat.of(filename, format);
        if (fmt != ImageFormat.THIN) {
            spec.commandLine().getErr().println("mqb img: This image format does not support checks");
            spec.commandLine().getErr().flush();
            return NOT_SUPPORTED;
        }
        ThinImage.CheckResult r = ThinImage.check(filename, repair == null ? ThinImage.Repair.NONE
                : repair == Repair.LEAKS ? ThinImage.Repair.LEAKS : ThinImage.Repair.ALL, forceShare);
        PrintStream out = out();
        PrintWriter err = spec.commandLine().getErr();
        for (String e : r.errors()) { // on stderr, as qemu-img's are: stdout stays valid JSON with --output=json
            err.println((r.repairedErrors() == r.errors().size() ? "Repairing " : "ERROR ") + e);
        }
        err.flush();
        long totalClusters = 0;
        try {
            ThinImage.Info info = ThinImage.info(filename, forceShare ? ImageAccess.READ_SHARED : ImageAccess.READ);
            totalClusters = (info.virtualSize() + info.clusterSize() - 1) / info.clusterSize();
        } catch (IOException | IllegalArgumentException e) {
            // Tables too broken to open: the errors above say why; the summary goes without the total.
        }
        Report rep = new Report(filename.toString(), totalClusters, r.allocatedClusters(), r.completed() ? r.remainingErrors() : 0,
                r.leakedClusters(), Files.size(filename), r.repairedLeaks(), r.repairedErrors(), r.completed() ? 0 : 1);
        out.print(output == OutputFormat.JSON ? json(rep) : human(rep));
        if (!r.completed()) {
            spec.commandLine().getErr().println("mqb img: Check failed: the header of '" + filename + "' cannot be read");
            spec.commandLine().getErr().flush();
            return 1;
        }
        return rep.corruptions() > 0 ? CORRUPT : rep.leaks() > 0 ? LEAKS : 0;
    }

    /** qemu-img check's human summary. */
    static String human(Report r) {
        StringBuilder b = new StringBuilder();
        if (r.corruptionsFixed() > 0 || r.leaksFixed() > 0) {
            b.append("The following inconsistencies were found and repaired:\n\n")
                    .append("    ").append(r.leaksFixed()).append(" leaked clusters\n")
                    .append("    ").append(r.corruptionsFixed()).append(" corruptions\n\n")
                    .append("Double checking the fixed image now...\n");
        }
        if (r.corruptions() == 0 && r.leaks() == 0 && r.checkErrors() == 0) {
            b.append("No errors were found on the image.\n");
        }
        if (r.corruptions() > 0) {
            b.append('\n').append(r.corruptions()).append(" errors were found on the image.\n")
                    .append("Data may be corrupted, or further writes to the image may corrupt it.\n");
        }
        if (r.leaks() > 0) {
            b.append('\n').append(r.leaks()).append(" leaked clusters were found on the image.\n")
                    .append("This means waste of disk space, but no harm to data.\n");
        }
        if (r.checkErrors() > 0) {
            b.append('\n').append(r.checkErrors()).append(" internal errors have occurred during the check.\n");
        }
        if (r.totalClusters() > 0 && r.allocatedClusters() > 0) {
            b.append(String.format(Locale.ROOT, "%d/%d = %.2f%% allocated, %.2f%% fragmented, %.2f%% compressed clusters%n",
                    r.allocatedClusters(), r.totalClusters(), 100.0 * r.allocatedClusters() / r.totalClusters(), 0.0, 0.0));
        }
        b.append("Image end offset: ").append(r.imageEndOffset()).append('\n');
        return b.toString();
    }

    /** qemu-img check's JSON: the counts that are not zero, with qemu-img's keys. */
    static String json(Report r) {
        JsonOut j = new JsonOut().beginObject();
        j.field("image-end-offset", r.imageEndOffset());
        j.field("total-clusters", r.totalClusters());
        j.field("check-errors", r.checkErrors());
        if (r.leaks() > 0) {
            j.field("leaks", r.leaks());
        }
        if (r.corruptions() > 0) {
            j.field("corruptions", r.corruptions());
        }
        if (r.leaksFixed() > 0) {
            j.field("leaks-fixed", r.leaksFixed());
        }
        if (r.corruptionsFixed() > 0) {
            j.field("corruptions-fixed", r.corruptionsFixed());
        }
        j.field("allocated-clusters", r.allocatedClusters());
        j.field("filename", r.filename());
        j.field("format", "thin");
        return j.endObject().toString();
    }
}
