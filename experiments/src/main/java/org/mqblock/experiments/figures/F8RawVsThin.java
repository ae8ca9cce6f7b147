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
                + " every queue count up to this machine's CPUs, thin's randread and overwrite IOPS are >= 0.9x raw's;"
                + " only first writes pay for allocation (thin's fresh writes below its overwrites).";
    }

    @Override
    public Verdict judge(Table t, Sweep s) {
        List<Verdict> parts = new ArrayList<>();
        for (Object q : t.distinct("queues")) {
            if (((Number) q).intValue() > s.cpus()) {
                continue;
            }
            for (String phase : List.of("randread", "overwrite")) {
                parts.add(Verdict.atLeast("thin/raw " + phase + " at " + q + " queues", t.mean("iops", "backend", "thin",
                        "phase", phase, "queues", q) / t.mean("iops", "backend", "file", "phase", phase, "queues", q), 0.9));
            }
            parts.add(Verdict.atMost("thin fresh-randwrite/overwrite at " + q + " queues", t.mean("iops", "backend", "thin",
                    "phase", "fresh-randwrite", "queues", q) / t.mean("iops", "backend", "thin", "phase", "overwrite",
                    "queues", q), 0.999));
        }
        return Verdict.all(parts);
    }

    private static int[] queues(boolean quick) {
        return quick ? new int[] {1, 2} : new int[] {1, 2, 4};
    }

    @Override
    public int steps(boolean quick) {
        return queues(quick).length * 2 * PHASES.length;
    }

    @Override
    public String expectedRuntime(boolean quick) {
        return quick ? "~20 s" : "~1.5 min";
    }

    @Override
    public List<String> columns() {
        return List.of("backend", "phase", "queues", "iops", "p99_us");
    }

    @Override
    public Outcome run(Sweep s) throws Exception {
        Table t = new Table(columns().toArray(String[]::new));
        Path dir = Files.createTempDirectory("mqb-f8-");
        try {
            for (Backend b : List.of(Backend.FILE, Backend.THIN)) {
                for (int q : queues(s.quick())) {
                    Path image = dir.resolve(b.label + "-" + q + ".img");
                    for (String phase : PHASES) {
                        Rw rw = phase.equals("randread") ? Rw.RANDREAD : Rw.RANDWRITE;
                        JobSpec spec = Jobs.base(s).backend(b, "").filename(image.toString()).size(128L << 20)
                                .numjobs(q).rw(rw).build();
                        JobResult r = Jobs.run(s, b.label + "-q" + q + "-" + phase, spec);
                        t.add(b.label, phase, q, r.iops(), Jobs.us(r.latNs(), 99));
                    }
                    Files.deleteIfExists(image);
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
                p.series(b == Backend.FILE ? "raw (file)" : "thin", t,
                        t.select(r -> r[0].equals(b.label) && r[1].equals(phase)), "queues", "iops");
            }
            panels.add(p);
        }
        List<String> findings = new ArrayList<>();
        int top = queues(s.quick())[queues(s.quick()).length - 1];
        for (String phase : PHASES) {
            double raw = iops(t, "file", phase, top);
            double thin = iops(t, "thin", phase, top);
            findings.add(String.format(Locale.ROOT, "%s at %d queues: thin %.0f IOPS = %s of raw (%.0f).", phase, top,
                    thin, Jobs.fmtRatio(thin / raw), raw));
        }
        return new Outcome(t, panels, findings, List.of("Images are 128 MiB files in " + dir.getParent()
                + " through the page cache (cache=writeback); both formats do their I/O on the IOThreads' thread pools.",
                s.oversubscribedNote(top, "queues")));
    }

    private static double iops(Table t, String backend, String phase, int q) {
        return t.select(r -> r[0].equals(backend) && r[1].equals(phase) && ((Number) r[2]).intValue() == q).stream()
                .mapToDouble(r -> Table.number(r, 3)).findFirst().orElse(Double.NaN);
    }
}
