package org.mqblock.experiments.figures;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.mqblock.experiments.job.Backend;
import org.mqblock.experiments.job.JobResult;
import org.mqblock.experiments.job.JobSpec;
import org.mqblock.virtio.VirtioBlkRig.Mode;

/** F1: IOPS as vCPUs grow, for the three modes, on the null and latency backends. */
final class F1IopsVsVcpus implements Figure {

    static final String LATENCY_OPTS = "latency-us=50,parallelism=64";

    static final Column<String> BACKEND = Column.text("backend");
    static final Column<String> MODE = Column.text("mode");
    static final Column<Integer> VCPUS = Column.integer("vcpus");
    static final Column<Integer> IODEPTH = Column.integer("iodepth");
    static final Column<Double> IOPS = Column.real("iops");
    static final Column<Double> P99 = Column.real("p99_us");
    static final Column<Double> IRQS_PER_REQ = Column.real("interrupts_per_req");
    static final Column<Double> USR = Column.real("usr_cpu_pct");
    static final Column<Double> SYS = Column.real("sys_cpu_pct");
    static final Column<Boolean> OVERSUBSCRIBED = Column.flag("oversubscribed");
    static final Columns COLUMNS = Columns.of(BACKEND, MODE, VCPUS, IODEPTH, IOPS, P99, IRQS_PER_REQ, USR, SYS,
            OVERSUBSCRIBED, Grid.REP);

    @Override
    public String id() {
        return "F1";
    }

    @Override
    public String slug() {
        return "iops-vs-vcpus";
    }

    @Override
    public String claim() {
        return "With one virtqueue per vCPU on IOThreads (mq), IOPS grow with vCPUs while one queue under the global"
                + " mutex (sq-global) or on one IOThread (sq-iothread) flattens: at the most vCPUs this machine has CPUs"
                + " for (at least 2), mq's median IOPS reach >= 1.2x both single-queue modes' and >= 1.2x its own at 1"
                + " vCPU, on each backend.";
    }

    @Override
    public Verdict judge(Table t, Sweep s) {
        int n = t.distinct(VCPUS).stream().mapToInt(v -> v).filter(v -> v >= 2 && v <= s.cpus())
                .max().orElse(0);
        if (n == 0) {
            return Verdict.notTestable("needs a point with 2 or more vCPUs on as many CPUs; this machine has " + s.cpus());
        }
        List<Verdict> parts = new ArrayList<>();
        for (String b : t.distinct(BACKEND)) {
            double mq = t.median(IOPS, BACKEND.is(b), MODE.is(Mode.MQ.label), VCPUS.is(n));
            for (Mode m : List.of(Mode.SQ_GLOBAL, Mode.SQ_IOTHREAD)) {
                parts.add(Verdict.atLeast(b + ": mq/" + m.label + " at " + n + " vCPUs",
                        mq / t.median(IOPS, BACKEND.is(b), MODE.is(m.label), VCPUS.is(n)), 1.2));
            }
            parts.add(Verdict.atLeast(b + ": mq at " + n + " vCPUs / mq at 1", mq
                    / t.median(IOPS, BACKEND.is(b), MODE.is(Mode.MQ.label), VCPUS.is(1)), 1.2));
        }
        return Verdict.all(parts);
    }

    private static int[] vcpus(boolean quick) {
        return quick ? new int[] {1, 2, 4} : new int[] {1, 2, 4, 8};
    }

    @Override
    public int steps(boolean quick) {
        return Jobs.reps(quick) * vcpus(quick).length * Mode.values().length * 2;
    }

    @Override
    public String expectedRuntime(boolean quick) {
        return quick ? "~1.5 min" : "~12 min";
    }

    @Override
    public Columns columns() {
        return COLUMNS;
    }

    @Override
    public Outcome run(Sweep s) throws Exception {
        Table t = new Table(COLUMNS);
        List<Panel> panels = new ArrayList<>();
        List<String> findings = new ArrayList<>();
        List<Backend> backends = List.of(Backend.NULL, Backend.LATENCY);
        // Repetitions outermost and the modes innermost: drift over the run touches every mode alike.
        for (int rep = 0; rep < Jobs.reps(s.quick()); rep++) {
            for (Backend b : backends) {
                String opts = b == Backend.LATENCY ? LATENCY_OPTS : "";
                for (int n : vcpus(s.quick())) {
                    for (Mode m : Mode.values()) {
                        JobSpec spec = Jobs.base(s).backend(b, opts).mode(m).numjobs(n).build();
                        JobResult r = Jobs.run(s, b.label + "-" + m.label + "-" + n + "-" + rep, spec);
                        t.row().set(BACKEND, b.label).set(MODE, m.label).set(VCPUS, n).set(IODEPTH, spec.iodepth())
                                .set(IOPS, r.iops()).set(P99, Jobs.us(r.latNs(), 99))
                                .set(IRQS_PER_REQ, r.interruptsPerRequest()).set(USR, r.usrCpu()).set(SYS, r.sysCpu())
                                .set(OVERSUBSCRIBED, n > s.cpus()).set(Grid.REP, rep).add();
                    }
                }
            }
        }
        for (Backend b : backends) {
            Panel p = Panel.lines(b.label + " backend" + (b == Backend.LATENCY ? " (50 us, 64 channels)" : ""),
                    "vCPUs (numjobs)", "IOPS (4k randread, iodepth 32 per vCPU)");
            for (Mode m : Mode.values()) {
                p.summary(m.label, t.where(BACKEND.is(b.label), MODE.is(m.label)), VCPUS, IOPS, OVERSUBSCRIBED);
            }
            panels.add(p);
            int top = vcpus(s.quick())[vcpus(s.quick()).length - 1];
            int fit = Math.min(top, Integer.highestOneBit(Math.max(1, s.cpus())));
            for (int n : fit == top ? new int[] {top} : new int[] {fit, top}) {
                double mq = t.median(IOPS, BACKEND.is(b.label), MODE.is(Mode.MQ.label), VCPUS.is(n));
                findings.add(String.format(Locale.ROOT, "%s backend, %d vCPUs%s: mq %s IOPS (median [min-max] of %d) = %s"
                                + " sq-global, %s sq-iothread.", b.label, n, n > s.cpus() ? " (oversubscribed)" : "",
                        Table.spread(t.values(IOPS, BACKEND.is(b.label), MODE.is(Mode.MQ.label), VCPUS.is(n)), "%.0f"),
                        Jobs.reps(s.quick()),
                        Jobs.fmtRatio(mq / t.median(IOPS, BACKEND.is(b.label), MODE.is(Mode.SQ_GLOBAL.label), VCPUS.is(n))),
                        Jobs.fmtRatio(mq / t.median(IOPS, BACKEND.is(b.label), MODE.is(Mode.SQ_IOTHREAD.label), VCPUS.is(n)))));
            }
        }
        List<String> notes = List.of(s.oversubscribedNote(vcpus(s.quick())[vcpus(s.quick()).length - 1], "vCPUs"));
        return new Outcome(t, panels, findings, notes);
    }
}
