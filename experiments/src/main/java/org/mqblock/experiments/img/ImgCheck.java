package org.mqblock.experiments.img;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.mqblock.block.driver.ThinDriver;
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

    @Option(names = "-r", paramLabel = "leaks|all", description = "Repair leaked clusters (leaks) or everything (all).")
    Repair repair;

    @Parameters(index = "0", paramLabel = "filename")
    Path filename;

    enum Repair {
        LEAKS,
        ALL
    }

    /** What one pass of the check found, with what a repair before it fixed. */
    record Report(String filename, long totalClusters, long allocatedClusters, long corruptions, long leaks,
            long imageEndOffset, long leaksFixed, long corruptionsFixed) {}

    @Override
    int execute() throws IOException {
        ImageFormat fmt = ImageFormat.of(filename, format);
        if (fmt != ImageFormat.THIN) {
            spec.commandLine().getErr().println("mqb img: This image format does not support checks");
            spec.commandLine().getErr().flush();
            return NOT_SUPPORTED;
        }
        if (repair != null) {
            throw new IllegalArgumentException("-r: repairing needs the thin library's repair, which this build lacks");
        }
        ThinDriver.CheckResult r = ThinDriver.check(filename);
        PrintStream out = out();
        for (String e : r.errors()) {
            out.println("ERROR " + e);
        }
        long clusterSize;
        long virtualSize;
        try (ThinDriver t = ThinDriver.open(filename, null)) {
            clusterSize = t.clusterSize();
            virtualSize = t.length();
        } catch (IOException | RuntimeException e) {
            clusterSize = 0; // the header is what is broken: the errors above say so
            virtualSize = 0;
        }
        Report rep = new Report(filename.toString(), clusterSize == 0 ? 0 : (virtualSize + clusterSize - 1) / clusterSize,
                r.allocatedClusters(), r.errors().size(), r.leakedClusters(), Files.size(filename), 0, 0);
        out.print(output == OutputFormat.JSON ? json(rep) : human(rep));
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
        if (r.corruptions() == 0 && r.leaks() == 0) {
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
        j.field("check-errors", 0);
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
