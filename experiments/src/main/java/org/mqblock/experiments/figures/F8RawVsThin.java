package org.mqblock.experiments.figures;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.mqblock.experiments.job.Backend;
import org.mqblock.experiments.job.JobResult;
import org.mqblock.experiments.job.JobSpec;
import org.mqblock.experiments.job.Rw;

/**
 * F8: a raw image against the thin format across queue counts. Each image sees three phases: random
 * writes into a fresh image (the thin one allocates clusters under its metadata lock), random
 * reads, then random overwrites of what is now mostly allocated.
 */
final class F8RawVsThin implements Figure {

    static final String[] PHASES = {"fresh-randwrite", "randread", "overwrite"};

    @Override
    public String id() {
        return "F8";
    }

    @Override
    public String slug() {
        return "raw-vs-thin";
    }

    @Override
    public String claim() {
        return "Once clusters are allocated, the thin format runs I/O on all queues in parallel like a raw image: at"
                + " every queue count up to this machine's CPUs, thin's median randread and overwrite IOPS are >= 0.9x"
                + " raw's; only first writes pay for allocation (thin's fresh writes below its overwrites).";
    }

    @Override
    public Verdict judge(Table t, Sweep s) {
        List<Verdict> parts = new ArrayList<>();
        for (Object q : t.distinct("queues")) {
            if (((Number) q).intValue() > s.cpus()) {
                continue;
            }
            for (String phase : List.of("randread", "overwrite")) {
                parts.add(Verdict.atLeast("thin/raw " + phase + " at " + q + " queues", t.median("iops", "backend", "thin",
                        "phase", phase, "queues", q) / t.median("iops", "backend", "file", "phase", phase, "queues", q), 0.9));
            }
            parts.add(Verdict.atMost("thin fresh-randwrite/overwrite at " + q + " queues", t.median("iops", "backend",
                    "thin", "phase", "fresh-randwrite", "queues", q) / t.median("iops", "backend", "thin", "phase",
                    "overwrite", "queues", q), 0.999));
        }
        return Verdict.all(parts);
    }

    private static int[] queues(boolean quick) {
        return quick ? new int[] {1, 2} : new int[] {1, 2, 4};
    }

    @Override
    public int steps(boolean quick) {
        return Jobs.reps(quick) * queues(quick).length * 2 * PHASES.length;
    }

    @Override
    public String expectedRuntime(boolean quick) {
        return quick ? "~1 min" : "~7 min";
    }

    @Override
    public List<String> columns() {
        return List.of("backend", "phase", "queues", "iops", "p99_us", "rep");
    }

    @Override
    public Outcome run(Sweep s) throws Exception {
        Table t = new Table(columns().toArray(String[]::new));
        Path dir = Files.createTempDirectory("mqb-f8-");
        try {
            // Repetitions outermost, raw and thin alternated at each queue count; each repetition starts
            // from fresh images, since the first phase is the one that allocates.
            for (int rep = 0; rep < Jobs.reps(s.quick()); rep++) {
                for (int q : queues(s.quick())) {
                    for (Backend b : List.of(Backend.FILE, Backend.THIN)) {
                        Path image = dir.resolve(b.label + "-" + q + ".img");
                        for (String phase : PHASES) {
                            Rw rw = phase.equals("randread") ? Rw.RANDREAD : Rw.RANDWRITE;
                            JobSpec spec = Jobs.base(s).backend(b, "").filename(image.toString()).size(128L << 20)
                                    .numjobs(q).rw(rw).build();
                            JobResult r = Jobs.run(s, b.label + "-q" + q + "-" + phase + "-" + rep, spec);
                            t.add(b.label, phase, q, r.iops(), Jobs.us(r.latNs(), 99), rep);
                        }
                        Files.deleteIfExists(image);
                    }
                }
            }
        } finally {
            try (var files = Files.list(dir)) {
                for (Path p : files.toList()) {
                    Files.deleteIfExists(p);
                }
            }
            Files.deleteIfExists(dir);
        }
        List<Panel> panels = new ArrayList<>();
        for (String phase : PHASES) {
            Panel p = Panel.lines(phase, "queues (= vCPUs)", "IOPS, 4k, iodepth 32 per queue");
            for (Backend b : List.of(Backend.FILE, Backend.THIN)) {
                p.summary(b == Backend.FILE ? "raw (file)" : "thin", t,
                        t.select(r -> r[0].equals(b.label) && r[1].equals(phase)), "queues", "iops", null);
            }
            panels.add(p);
        }
        List<String> findings = new ArrayList<>();
        int top = queues(s.quick())[queues(s.quick()).length - 1];
        for (String phase : PHASES) {
            double raw = t.median("iops", "backend", "file", "phase", phase, "queues", top);
            double thin = t.median("iops", "backend", "thin", "phase", phase, "queues", top);
            findings.add(String.format(Locale.ROOT, "%s at %d queues (median [min-max] of %d): thin %s IOPS = %s of raw (%s).",
                    phase, top, Jobs.reps(s.quick()), Table.spread(t.values("iops", "backend", "thin", "phase", phase, "queues",
                            top), "%.0f"), Jobs.fmtRatio(thin / raw), Table.spread(t.values("iops", "backend", "file", "phase",
                            phase, "queues", top), "%.0f")));
        }
        return new Outcome(t, panels, findings, List.of("Images are 128 MiB files in " + dir.getParent()
                + " through the page cache (cache=writeback); both formats do their I/O on the IOThreads' thread pools.",
                s.oversubscribedNote(top, "queues")));
    }
}
