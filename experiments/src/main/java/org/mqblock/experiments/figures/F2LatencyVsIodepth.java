package org.mqblock.experiments.figures;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.mqblock.experiments.job.JobResult;
import org.mqblock.experiments.job.JobSpec;
import org.mqblock.virtio.VirtioBlkRig.Mode;

/** F2: p50, p99 and p99.9 latency as iodepth grows, three modes, two vCPUs, memory backend. */
final class F2LatencyVsIodepth implements Figure {

    static final int VCPUS = 2;

    @Override
    public String id() {
        return "F2";
    }

    @Override
    public String slug() {
        return "latency-vs-iodepth";
    }

    @Override
    public String claim() {
        return "Per-vCPU queues keep tail latency lower as iodepth grows: at every iodepth, mq's median p99 is at most"
                + " that of each single-queue mode, which add queueing on the shared virtqueue (and the global mutex).";
    }

    static final Column<String> MODE = Column.text("mode");
    static final Column<Integer> VCPUS_COL = Column.integer("vcpus");
    static final Column<Integer> IODEPTH = Column.integer("iodepth");
    static final Column<Double> IOPS = Column.real("iops");
    static final Column<Double> P50 = Column.real("p50_us");
    static final Column<Double> P99 = Column.real("p99_us");
    static final Column<Double> P999 = Column.real("p999_us");
    static final Columns COLUMNS = Columns.of(MODE, VCPUS_COL, IODEPTH, IOPS, P50, P99, P999, Grid.REP);

    @Override
    public Verdict judge(Table t, Sweep s) {
        if (s.cpus() < VCPUS) {
            return Verdict.notTestable(VCPUS + " vCPUs on " + s.cpus() + " CPU(s) measure time-sharing");
        }
        List<Verdict> parts = new ArrayList<>();
        for (int d : t.distinct(IODEPTH)) {
            double mq = t.median(P99, MODE.is(Mode.MQ.label), IODEPTH.is(d));
            for (Mode m : List.of(Mode.SQ_GLOBAL, Mode.SQ_IOTHREAD)) {
                parts.add(Verdict.atMost("p99 mq/" + m.label + " at iodepth " + d,
                        mq / t.median(P99, MODE.is(m.label), IODEPTH.is(d)), 1.0));
            }
        }
        return Verdict.all(parts);
    }

    private static List<Integer> depths(boolean quick) {
        return quick ? List.of(1, 8, 32, 128) : List.of(1, 2, 4, 8, 16, 32, 64, 128);
    }

    /** Repetitions outermost and the modes innermost: drift over the run touches every mode alike. */
    static Grid grid(boolean quick) {
        return Grid.reps(Jobs.reps(quick)).then(IODEPTH, depths(quick)).then(MODE, Jobs.MODES);
    }

    @Override
    public int steps(boolean quick) {
        return grid(quick).size();
    }

    @Override
    public String expectedRuntime(boolean quick) {
        return quick ? "~1 min" : "~12 min";
    }

    @Override
    public Columns columns() {
        return COLUMNS;
    }

    @Override
    public Outcome run(Sweep s) throws Exception {
        Table t = new Table(COLUMNS);
        for (Grid.Point p : grid(s.quick())) {
            JobSpec spec = Jobs.base(s).mode(Mode.parse(p.get(MODE))).numjobs(VCPUS).iodepth(p.get(IODEPTH)).build();
            JobResult r = Jobs.run(s, p.get(MODE) + "-qd" + p.get(IODEPTH) + "-" + p.get(Grid.REP), spec);
            t.row(p).set(VCPUS_COL, VCPUS).set(IOPS, r.iops()).set(P50, Jobs.us(r.latNs(), 50))
                    .set(P99, Jobs.us(r.latNs(), 99)).set(P999, Jobs.us(r.latNs(), 99.9)).add();
        }
        List<Panel> panels = new ArrayList<>();
        for (Column<Double> pct : List.of(P50, P99, P999)) {
            String name = pct.name().replace("_us", "").replace("p999", "p99.9");
            Panel p = Panel.lines(name + " latency, " + VCPUS + " vCPUs, memory backend", "iodepth per vCPU",
                    name + " latency (us)").withLogX().withLogY();
            for (Mode m : Mode.values()) {
                p.summary(m.label, t.where(MODE.is(m.label)), IODEPTH, pct, null);
            }
            panels.add(p);
        }
        List<String> findings = new ArrayList<>();
        List<Integer> depths = depths(s.quick());
        for (int d : List.of(1, depths.get(depths.size() - 1))) {
            findings.add(String.format(Locale.ROOT, "iodepth %d, p99 in us, median [min-max] of %d: mq %s, sq-iothread %s,"
                    + " sq-global %s.", d, Jobs.reps(s.quick()), p99(t, Mode.MQ, d), p99(t, Mode.SQ_IOTHREAD, d),
                    p99(t, Mode.SQ_GLOBAL, d)));
        }
        String note = s.cpus() < 2 * VCPUS ? "The " + VCPUS + " vCPUs and their IOThreads (up to " + 2 * VCPUS
                + " busy threads in mq mode) share this machine's " + s.cpus() + " CPUs, so queueing on CPUs adds to every"
                + " mode's latency." : "";
        return new Outcome(t, panels, findings, List.of(note, "Points are medians of " + Jobs.reps(s.quick())
                + " repetitions; each vertical line spans the repetitions' minimum to maximum."));
    }

    private static String p99(Table t, Mode m, int d) {
        return Table.spread(t.values(P99, MODE.is(m.label), IODEPTH.is(d)), "%.1f");
    }
}
