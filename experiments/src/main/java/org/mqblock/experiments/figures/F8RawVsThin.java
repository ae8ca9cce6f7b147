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

    static final List<String> PHASES = List.of("fresh-randwrite", "randread", "overwrite");

    static final Column<String> BACKEND = Column.text("backend");
    static final Column<String> PHASE = Column.text("phase");
    static final Column<Integer> QUEUES = Column.integer("queues");
    static final Column<Double> IOPS = Column.real("iops");
    static final Column<Double> P99 = Column.real("p99_us");
    static final Columns COLUMNS = Columns.of(BACKEND, PHASE, QUEUES, IOPS, P99, Grid.REP);

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
        for (int q : t.distinct(QUEUES)) {
            if (q > s.cpus()) {
                continue;
            }
            for (String phase : List.of("randread", "overwrite")) {
                parts.add(Verdict.atLeast("thin/raw " + phase + " at " + q + " queues", median(t, "thin", phase, q)
                        / median(t, "file", phase, q), 0.9));
            }
            parts.add(Verdict.atMost("thin fresh-randwrite/overwrite at " + q + " queues",
                    median(t, "thin", "fresh-randwrite", q) / median(t, "thin", "overwrite", q), 0.999));
        }
        return Verdict.all(parts);
    }

    private static double median(Table t, String backend, String phase, int queues) {
        return t.median(IOPS, BACKEND.is(backend), PHASE.is(phase), QUEUES.is(queues));
    }

    private static List<Integer> queues(boolean quick) {
        return quick ? List.of(1, 2) : List.of(1, 2, 4);
    }

    /**
     * Repetitions outermost, raw and thin alternated at each queue count, the phases innermost in
     * order; each repetition starts from fresh images, since the first phase is the one that allocates.
     */
    static Grid grid(boolean quick) {
        return Grid.reps(Jobs.reps(quick)).then(QUEUES, queues(quick))
                .then(BACKEND, List.of(Backend.FILE.label, Backend.THIN.label)).then(PHASE, PHASES);
    }

    @Override
    public int steps(boolean quick) {
        return grid(quick).size();
    }

    @Override
    public String expectedRuntime(boolean quick) {
        return quick ? "~1 min" : "~7 min";
    }

    @Override
    public Columns columns() {
        return COLUMNS;
    }

    @Override
    public Outcome run(Sweep s) throws Exception {
        Table t = new Table(COLUMNS);
        Path dir = Files.createTempDirectory("mqb-f8-");
        try {
            for (Grid.Point p : grid(s.quick())) {
                Path image = dir.resolve(p.get(BACKEND) + "-" + p.get(QUEUES) + ".img");
                if (p.get(PHASE).equals(PHASES.get(0))) {
                    Files.deleteIfExists(image); // a fresh image for the phase that allocates
                }
                Rw rw = p.get(PHASE).equals("randread") ? Rw.RANDREAD : Rw.RANDWRITE;
                JobSpec spec = Jobs.base(s).backend(Backend.parse(p.get(BACKEND)), "").filename(image.toString())
                        .size(128L << 20).numjobs(p.get(QUEUES)).rw(rw).build();
                JobResult r = Jobs.run(s, p.get(BACKEND) + "-q" + p.get(QUEUES) + "-" + p.get(PHASE) + "-"
                        + p.get(Grid.REP), spec);
                t.row(p).set(IOPS, r.iops()).set(P99, Jobs.us(r.latNs(), 99)).add();
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
                p.summary(b == Backend.FILE ? "raw (file)" : "thin", t.where(BACKEND.is(b.label), PHASE.is(phase)), QUEUES,
                        IOPS, null);
            }
            panels.add(p);
        }
        List<String> findings = new ArrayList<>();
        List<Integer> queues = queues(s.quick());
        int top = queues.get(queues.size() - 1);
        // Findings quote the most queues this machine has CPUs for: points beyond are oversubscribed.
        int fit = queues.stream().filter(q -> q <= s.cpus()).reduce((a, b) -> b).orElse(1);
        for (String phase : PHASES) {
            findings.add(String.format(Locale.ROOT, "%s at %d queues (median [min-max] of %d): thin %s IOPS = %s of raw (%s).",
                    phase, fit, Jobs.reps(s.quick()), Table.spread(t.values(IOPS, BACKEND.is("thin"), PHASE.is(phase),
                            QUEUES.is(fit)), "%.0f"), Jobs.fmtRatio(median(t, "thin", phase, fit) / median(t, "file", phase, fit)),
                    Table.spread(t.values(IOPS, BACKEND.is("file"), PHASE.is(phase), QUEUES.is(fit)), "%.0f")));
        }
        return new Outcome(t, panels, findings, List.of("Images are 128 MiB files in " + dir.getParent()
                + " through the page cache (cache=writeback); both formats do their I/O on the IOThreads' thread pools.",
                s.oversubscribedNote(top, "queues")));
    }
}
