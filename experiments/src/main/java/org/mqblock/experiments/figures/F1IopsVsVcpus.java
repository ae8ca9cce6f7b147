package org.mqblock.experiments.figures;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.mqblock.experiments.job.Backend;
import org.mqblock.experiments.job.JobResult;
import org.mqblock.experiments.job.JobRunner;
import org.mqblock.experiments.job.JobSpec;
import org.mqblock.virtio.VirtioBlkRig.Mode;

/**
 * F1: IOPS and CPU as vCPUs grow, on the null and latency backends, for the two single-queue
 * baselines, mq, and two ablations that take mq apart: its virtqueues alone (all on one IOThread)
 * and more IOThreads (one per virtqueue, past the CPUs). Each point is repeated, the
 * configurations rotate their order every repetition, and each configuration runs once, discarded,
 * before the first measured one (the JIT). A speedup over a baseline is judged only where that
 * baseline is saturated, and only at points whose threads fit in the machine's CPUs.
 */
final class F1IopsVsVcpus implements Figure {

    static final String LATENCY_OPTS = "latency-us=50,parallelism=64";
    /** A device thread this busy (percent of one CPU) is saturated: the baseline can go no faster. */
    static final double SATURATED_PCT = 90;

    /** What F1 compares: a mode and how many virtqueues and IOThreads it gets at n vCPUs. */
    enum Config {
        SQ_GLOBAL("sq-global", Mode.SQ_GLOBAL),
        SQ_IOTHREAD("sq-iothread", Mode.SQ_IOTHREAD),
        /** Ablation: more virtqueues, one IOThread. */
        MQ_ONE_IOTHREAD("mq-1-iothread", Mode.MQ),
        MQ("mq", Mode.MQ),
        /** Ablation: more IOThreads, one per virtqueue even past the CPUs. */
        MQ_IOTHREAD_PER_VQ("mq-iothread-per-vq", Mode.MQ);

        final String label;
        final Mode mode;

        Config(String label, Mode mode) {
            this.label = label;
            this.mode = mode;
        }

        JobSpec.Builder apply(JobSpec.Builder b, int vcpus) {
            b.mode(mode).numjobs(vcpus);
            return switch (this) {
                case MQ_ONE_IOTHREAD -> b.queues(vcpus, 1);
                case MQ_IOTHREAD_PER_VQ -> b.queues(vcpus, vcpus);
                default -> b.queues(0, 0); // mq: one virtqueue per vCPU, IOThreads up to the CPUs
            };
        }
    }

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
                + " mutex (sq-global) or on one IOThread (sq-iothread) saturates: at the most vCPUs (at least 2) whose"
                + " mq threads (vCPUs and IOThreads) fit in this machine's CPUs, mq's median IOPS reach >= 1.2x each"
                + " single-queue mode's, judged only where that mode's busiest device thread is saturated (>= 90% of a"
                + " CPU), and >= 1.2x mq's own at 1 vCPU, on each backend.";
    }

    @Override
    public Verdict judge(Table t, Sweep s) {
        int n = t.select(r -> r[t.index("config")].equals(Config.MQ.label)
                        && !Boolean.TRUE.equals(r[t.index("oversubscribed")])).stream()
                .mapToInt(r -> ((Number) r[t.index("vcpus")]).intValue()).filter(v -> v >= 2).max().orElse(0);
        if (n == 0) {
            return Verdict.notTestable("mq at 2 vCPUs runs 2 vCPU threads and 2 IOThreads, more than this machine's "
                    + s.cpus() + " CPUs: every multi-vCPU mq point is oversubscribed, so no speedup can be shown honestly");
        }
        List<Verdict> parts = new ArrayList<>();
        for (Object b : t.distinct("backend")) {
            double mq = t.median("iops", "backend", b, "config", Config.MQ.label, "vcpus", n);
            for (Config base : List.of(Config.SQ_GLOBAL, Config.SQ_IOTHREAD)) {
                String what = b + ": mq/" + base.label + " at " + n + " vCPUs";
                double busy = t.median("busiest_device_thread_pct", "backend", b, "config", base.label, "vcpus", n);
                if (!(busy >= SATURATED_PCT)) {
                    parts.add(Verdict.notTestable(String.format(Locale.ROOT, "%s: %s's busiest device thread ran at %.0f%%"
                            + " of a CPU (< %.0f%%), not saturated", what, base.label, busy, SATURATED_PCT)));
                } else {
                    parts.add(Verdict.atLeast(what, mq / t.median("iops", "backend", b, "config", base.label, "vcpus", n), 1.2));
                }
            }
            parts.add(Verdict.atLeast(b + ": mq at " + n + " vCPUs / mq at 1", mq
                    / t.median("iops", "backend", b, "config", Config.MQ.label, "vcpus", 1), 1.2));
        }
        return Verdict.all(parts);
    }

    private static int[] vcpus(boolean quick) {
        return quick ? new int[] {1, 2, 4} : new int[] {1, 2, 4, 8};
    }

    private static final List<Backend> BACKENDS = List.of(Backend.NULL, Backend.LATENCY);

    @Override
    public int steps(boolean quick) {
        return Jobs.reps(quick) * vcpus(quick).length * Config.values().length * BACKENDS.size();
    }

    @Override
    public String expectedRuntime(boolean quick) {
        return quick ? "~3 min" : "~20 min";
    }

    @Override
    public List<String> columns() {
        return List.of("backend", "config", "mode", "vcpus", "queues", "iothreads", "threads", "iodepth", "iops", "p99_us",
                "interrupts_per_req", "cpu_us_per_io", "device_cpu_us_per_io", "busiest_device_thread_pct",
                "vcpu_cpu_pct", "usr_cpu_pct", "sys_cpu_pct", "halt_poll_ns", "guest_cost_ns", "oversubscribed", "rep");
    }

    private static JobSpec spec(Sweep s, Backend b, Config c, int n) {
        return c.apply(Jobs.base(s).backend(b, b == Backend.LATENCY ? LATENCY_OPTS : ""), n).build();
    }

    @Override
    public Outcome run(Sweep s) throws Exception {
        Table t = new Table(columns().toArray(String[]::new));
        int[] ns = vcpus(s.quick());
        int top = ns[ns.length - 1];
        // The JIT: every configuration's code paths once, discarded, before anything is measured.
        for (Backend b : BACKENDS) {
            for (Config c : Config.values()) {
                JobRunner.run(spec(s, b, c, Math.min(top, 2)).toBuilder().times(500, 200).build());
            }
        }
        Config[] configs = Config.values();
        for (int rep = 0; rep < Jobs.reps(s.quick()); rep++) {
            for (Backend b : BACKENDS) {
                for (int n : ns) {
                    for (int k = 0; k < configs.length; k++) {
                        Config c = configs[(k + rep) % configs.length]; // a new order each repetition
                        JobSpec spec = spec(s, b, c, n);
                        JobResult r = Jobs.run(s, b.label + "-" + c.label + "-" + n + "-" + rep, spec);
                        int threads = n + spec.iothreadCount();
                        t.add(b.label, c.label, c.mode.label, n, spec.virtqueues(), spec.iothreadCount(), threads,
                                spec.iodepth(), r.iops(), Jobs.us(r.latNs(), 99), r.interruptsPerRequest(), r.cpuUsPerIo(),
                                r.deviceCpuUsPerIo(), r.busiestDeviceThreadPercent(), r.meanJobThreadPercent(), r.usrCpu(),
                                r.sysCpu(), spec.haltPollNs(), spec.guestCostNs(), threads > s.cpus(), rep);
                    }
                }
            }
        }
        List<Panel> panels = new ArrayList<>();
        List<String> findings = new ArrayList<>();
        for (Backend b : BACKENDS) {
            String where = b.label + " backend";
            Panel iops = Panel.lines("IOPS, " + where, "vCPUs", "IOPS");
            Panel cpu = Panel.lines("CPU per I/O, " + where, "vCPUs", "us of CPU per request");
            Panel busy = Panel.lines("Busiest device thread, " + where, "vCPUs", "% of one CPU");
            for (Config c : Config.values()) {
                List<Object[]> rows = t.select(r -> r[0].equals(b.label) && r[1].equals(c.label));
                iops.summary(c.label, t, rows, "vcpus", "iops", "oversubscribed");
                cpu.summary(c.label, t, rows, "vcpus", "cpu_us_per_io", "oversubscribed");
                busy.summary(c.label, t, rows, "vcpus", "busiest_device_thread_pct", "oversubscribed");
            }
            panels.add(iops);
            panels.add(cpu);
            panels.add(busy);
            for (int n : ns) {
                if (n > 1) {
                    findings.add(finding(t, s, b.label, n));
                }
            }
        }
        List<String> notes = new ArrayList<>();
        notes.add("Hollow points have more vCPU and device threads than this machine's " + s.cpus()
                + " CPUs (oversubscribed): they measure time-sharing, not scaling.");
        notes.add("4 KiB random reads, iodepth 32 per vCPU; latency backend: " + LATENCY_OPTS + "; CPU per I/O is the whole"
                + " process's (guest model, device, JVM) over the requests; the busiest device thread is the busiest"
                + " IOThread (sq-global: its main loop), from /proc/self/task.");
        notes.add(String.format(Locale.ROOT, "Guest model: KVM-style halt-polling up to %d ns, %d ns of guest work per"
                        + " request, one interrupt target per virtqueue, kicks without the global mutex; median of %d"
                        + " repetitions with min-max bars.", JobSpec.defaults().haltPollNs(),
                JobSpec.defaults().guestCostNs(), Jobs.reps(s.quick())));
        Verdict v = judge(t, s);
        if (v.kind() == Verdict.Kind.NOT_TESTABLE_HERE) {
            notes.add("This machine cannot show an honest mq speedup: " + v.reason() + ".");
        }
        return new Outcome(t, panels, findings, notes);
    }

    /** One backend at n vCPUs: every configuration's IOPS against sq-global, with the CPU that bought it. */
    private static String finding(Table t, Sweep s, String backend, int n) {
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "%s backend, %d vCPUs%s (median [min-max] of %d):",
                backend, n, oversubscribed(t, backend, n) ? ", oversubscribed" : "", Jobs.reps(s.quick())));
        double sqGlobal = t.median("iops", "backend", backend, "config", Config.SQ_GLOBAL.label, "vcpus", n);
        for (Config c : Config.values()) {
            double iops = t.median("iops", "backend", backend, "config", c.label, "vcpus", n);
            b.append(String.format(Locale.ROOT, " %s %s IOPS (%s sq-global; %.1f us CPU/IO; busiest device thread %.0f%%);",
                    c.label, Table.spread(t.values("iops", "backend", backend, "config", c.label, "vcpus", n), "%.0f"),
                    Jobs.fmtRatio(iops / sqGlobal),
                    t.median("cpu_us_per_io", "backend", backend, "config", c.label, "vcpus", n),
                    t.median("busiest_device_thread_pct", "backend", backend, "config", c.label, "vcpus", n)));
        }
        b.setLength(b.length() - 1);
        return b.append('.').toString();
    }

    private static boolean oversubscribed(Table t, String backend, int n) {
        int o = t.index("oversubscribed");
        return t.select(r -> r[0].equals(backend) && ((Number) r[t.index("vcpus")]).intValue() == n
                && r[1].equals(Config.MQ.label)).stream().anyMatch(r -> Boolean.TRUE.equals(r[o]));
    }
}
