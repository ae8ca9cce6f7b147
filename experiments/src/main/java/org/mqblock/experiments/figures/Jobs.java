package org.mqblock.experiments.figures;

import java.io.IOException;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.List;
import org.HdrHistogram.Histogram;
import org.mqblock.experiments.job.FioJson;
import org.mqblock.experiments.job.JobResult;
import org.mqblock.experiments.job.JobRunner;
import org.mqblock.experiments.job.JobSpec;
import org.mqblock.virtio.VirtioBlkRig.Mode;

/** Running {@code mqb run} jobs inside a sweep: the shared timing, raw fio JSON, and checks. */
final class Jobs {

    private Jobs() {}

    /** The three modes' labels, in {@link Mode}'s order: a grid axis. */
    static final List<String> MODES = Arrays.stream(Mode.values()).map(m -> m.label).toList();

    /** Whether this JVM ran a warm-up job yet; sweeps run on the main thread only. */
    private static boolean warmedUp;

    /** Repetitions of every point: 3 in a quick run, 5 in a full one (median and spread from them). */
    static int reps(boolean quick) {
        return quick ? 3 : 5;
    }

    /** The default job with the sweep's timing: 4 s after a 1 s ramp, or 1 s after 0.3 s when quick. */
    static JobSpec.Builder base(Sweep s) {
        return JobSpec.defaults().toBuilder().times(s.quick() ? 1_000 : 4_000, s.quick() ? 300 : 1_000);
    }

    /**
     * Runs {@code spec}, keeps its fio JSON as results/&lt;fig&gt;/&lt;name&gt;.json, steps the
     * progress bar; a job with failed requests or a broken device fails the figure.
     */
    static JobResult run(Sweep s, String name, JobSpec spec) throws IOException {
        return run(s, name, spec, null);
    }

    /** {@link #run(Sweep, String, JobSpec)} with {@code during} run beside the measured window. */
    static JobResult run(Sweep s, String name, JobSpec spec, JobRunner.DuringWindow during) throws IOException {
        if (!warmedUp) {
            // The first job in a JVM runs partly interpreted: warm the JIT on a discarded run.
            JobRunner.run(spec.toBuilder().times(1_000, 500).build());
            warmedUp = true;
        }
        JobResult r = JobRunner.run(spec, during);
        Files.writeString(s.dir().resolve(name + ".json"), FioJson.write(r, s.machine(), System.currentTimeMillis()));
        s.log().printf("%s: %.0f IOPS, p99 %.1f us, %.3f irq/req, %.3f kicks/req, threads %s%n", name, r.iops(),
                us(r.latNs(), 99), r.interruptsPerRequest(), r.kicksPerRequest(), r.threads());
        if (!r.ok()) {
            throw new IllegalStateException(name + ": " + r.errors() + " failed requests, verify failures "
                    + r.verifyFailureCount() + ", device broken " + r.deviceBroken());
        }
        s.step();
        return r;
    }

    static double us(Histogram h, double percentile) {
        return h.getTotalCount() == 0 ? 0 : h.getValueAtPercentile(percentile) / 1000.0;
    }

    static String fmtRatio(double r) {
        return String.format(java.util.Locale.ROOT, "%.2fx", r);
    }
}
