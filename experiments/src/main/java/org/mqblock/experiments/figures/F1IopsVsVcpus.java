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
        int n = t.distinct("vcpus").stream().mapToInt(v -> ((Number) v).intValue()).filter(v -> v >= 2 && v <= s.cpus())
                .max().orElse(0);
        if (n == 0) {
            return Verdict.notTestable("needs a point with 2 or more vCPUs on as many CPUs; this machine has " + s.cpus());
        }
        List<Verdict> parts = new ArrayList<>();
        for (Object b : t.distinct("backend")) {
            double mq = t.median("iops", "backend", b, "mode", Mode.MQ.label, "vcpus", n);
            for (Mode m : List.of(Mode.SQ_GLOBAL, Mode.SQ_IOTHREAD)) {
                parts.add(Verdict.atLeast(b + ": mq/" + m.label + " at " + n + " vCPUs",
                        mq / t.median("iops", "backend", b, "mode", m.label, "vcpus", n), 1.2));
            }
            parts.add(Verdict.atLeast(b + ": mq at " + n + " vCPUs / mq at 1", mq
                    / t.median("iops", "backend", b, "mode", Mode.MQ.label, "vcpus", 1), 1.2));
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
    public List<String> columns() {
        return List.of("backend", "mode", "vcpus", "iodepth", "iops", "p99_us", "interrupts_per_req", "usr_cpu_pct",
                "sys_cpu_pct", "oversubscribed", "rep");
    }

    @Override
    public Outcome run(Sweep s) throws Exception {
        Table t = new Table(columns().toArray(String[]::new));
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
                        t.add(b.label, m.label, n, spec.iodepth(), r.iops(), Jobs.us(r.latNs(), 99),
                                r.interruptsPerRequest(), r.usrCpu(), r.sysCpu(), n > s.cpus(), rep);
                    }
                }
            }
        }
        for (Backend b : backends) {
            Panel p = Panel.lines(b.label + " backend" + (b == Backend.LATENCY ? " (50 us, 64 channels)" : ""),
                    "vCPUs (numjobs)", "IOPS (4k randread, iodepth 32 per vCPU)");
            for (Mode m : Mode.values()) {
                p.summary(m.label, t, t.select(r -> r[0].equals(b.label) && r[1].equals(m.label)), "vcpus", "iops",
                        "oversubscribed");
            }
            panels.add(p);
            int top = vcpus(s.quick())[vcpus(s.quick()).length - 1];
            int fit = Math.min(top, Integer.highestOneBit(Math.max(1, s.cpus())));
            for (int n : fit == top ? new int[] {top} : new int[] {fit, top}) {
                double mq = t.median("iops", "backend", b.label, "mode", Mode.MQ.label, "vcpus", n);
                findings.add(String.format(Locale.ROOT, "%s backend, %d vCPUs%s: mq %s IOPS (median [min-max] of %d) = %s"
                                + " sq-global, %s sq-iothread.", b.label, n, n > s.cpus() ? " (oversubscribed)" : "",
                        Table.spread(t.values("iops", "backend", b.label, "mode", Mode.MQ.label, "vcpus", n), "%.0f"),
                        Jobs.reps(s.quick()),
                        Jobs.fmtRatio(mq / t.median("iops", "backend", b.label, "mode", Mode.SQ_GLOBAL.label, "vcpus", n)),
                        Jobs.fmtRatio(mq / t.median("iops", "backend", b.label, "mode", Mode.SQ_IOTHREAD.label, "vcpus", n))));
            }
        }
        List<String> notes = List.of(s.oversubscribedNote(vcpus(s.quick())[vcpus(s.quick()).length - 1], "vCPUs"));
        return new Outcome(t, panels, findings, notes);
    }
}
