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

    @Override
    public Verdict judge(Table t, Sweep s) {
        if (s.cpus() < VCPUS) {
            return Verdict.notTestable(VCPUS + " vCPUs on " + s.cpus() + " CPU(s) measure time-sharing");
        }
        List<Verdict> parts = new ArrayList<>();
        for (Object d : t.distinct("iodepth")) {
            double mq = t.median("p99_us", "mode", Mode.MQ.label, "iodepth", d);
            for (Mode m : List.of(Mode.SQ_GLOBAL, Mode.SQ_IOTHREAD)) {
                parts.add(Verdict.atMost("p99 mq/" + m.label + " at iodepth " + d,
                        mq / t.median("p99_us", "mode", m.label, "iodepth", d), 1.0));
            }
        }
        return Verdict.all(parts);
    }

    private static int[] depths(boolean quick) {
        return quick ? new int[] {1, 8, 32, 128} : new int[] {1, 2, 4, 8, 16, 32, 64, 128};
    }

    @Override
    public int steps(boolean quick) {
        return Jobs.reps(quick) * depths(quick).length * Mode.values().length;
    }

    @Override
    public String expectedRuntime(boolean quick) {
        return quick ? "~1 min" : "~12 min";
    }

    @Override
    public List<String> columns() {
        return List.of("mode", "vcpus", "iodepth", "iops", "p50_us", "p99_us", "p999_us", "rep");
    }

    @Override
    public Outcome run(Sweep s) throws Exception {
        Table t = new Table(columns().toArray(String[]::new));
        // Repetitions outermost and the modes innermost: drift over the run touches every mode alike.
        for (int rep = 0; rep < Jobs.reps(s.quick()); rep++) {
            for (int d : depths(s.quick())) {
                for (Mode m : Mode.values()) {
                    JobSpec spec = Jobs.base(s).mode(m).numjobs(VCPUS).iodepth(d).build();
                    JobResult r = Jobs.run(s, m.label + "-qd" + d + "-" + rep, spec);
                    t.add(m.label, VCPUS, d, r.iops(), Jobs.us(r.latNs(), 50), Jobs.us(r.latNs(), 99),
                            Jobs.us(r.latNs(), 99.9), rep);
                }
            }
        }
        List<Panel> panels = new ArrayList<>();
        for (String[] pct : new String[][] {{"p50_us", "p50"}, {"p99_us", "p99"}, {"p999_us", "p99.9"}}) {
            Panel p = Panel.lines(pct[1] + " latency, " + VCPUS + " vCPUs, memory backend", "iodepth per vCPU",
                    pct[1] + " latency (us)").withLogX().withLogY();
            for (Mode m : Mode.values()) {
                p.summary(m.label, t, t.where("mode", m.label), "iodepth", pct[0], null);
            }
            panels.add(p);
        }
        List<String> findings = new ArrayList<>();
        int top = depths(s.quick())[depths(s.quick()).length - 1];
        for (int d : new int[] {1, top}) {
            findings.add(String.format(Locale.ROOT, "iodepth %d, p99 in us, median [min-max] of %d: mq %s, sq-iothread %s,"
                    + " sq-global %s.", d, Jobs.reps(s.quick()), p99(t, Mode.MQ, d), p99(t, Mode.SQ_IOTHREAD, d),
                    p99(t, Mode.SQ_GLOBAL, d)));
        }
        String note = s.cpus() < 2 * VCPUS ? "The " + VCPUS + " vCPUs and their IOThreads (up to " + 2 * VCPUS
                + " busy threads in mq mode) share this machine's " + s.cpus() + " CPUs, so queueing on CPUs adds to every"
                + " mode's latency." : "";
        return new Outcome(t, panels, findings, List.of(note, "Points are medians of " + Jobs.reps(s.quick())
                + " repetitions; the log axes carry no error bars, the spread is in the findings and the CSV."));
    }

    private static String p99(Table t, Mode m, int d) {
        return Table.spread(t.values("p99_us", "mode", m.label, "iodepth", d), "%.1f");
    }
}
