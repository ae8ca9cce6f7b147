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

    static final Column<String> BACKEND = Column.text("backend");
    static final Column<String> CONFIG = Column.text("config");
    static final Column<String> MODE = Column.text("mode");
    static final Column<Integer> VCPUS = Column.integer("vcpus");
    static final Column<Integer> QUEUES = Column.integer("queues");
    static final Column<Integer> IOTHREADS = Column.integer("iothreads");
    static final Column<Integer> THREADS = Column.integer("threads");
    static final Column<Integer> IODEPTH = Column.integer("iodepth");
    static final Column<Double> IOPS = Column.real("iops");
    static final Column<Double> P99 = Column.real("p99_us");
    static final Column<Double> IRQS_PER_REQ = Column.real("interrupts_per_req");
    static final Column<Double> CPU_PER_IO = Column.real("cpu_us_per_io");
    static final Column<Double> DEVICE_CPU_PER_IO = Column.real("device_cpu_us_per_io");
    static final Column<Double> BUSIEST = Column.real("busiest_device_thread_pct");
    static final Column<Double> VCPU_CPU = Column.real("vcpu_cpu_pct");
    static final Column<Double> USR = Column.real("usr_cpu_pct");
    static final Column<Double> SYS = Column.real("sys_cpu_pct");
    static final Column<Long> HALT_POLL_NS = Column.count("halt_poll_ns");
    static final Column<Long> GUEST_COST_NS = Column.count("guest_cost_ns");
    static final Column<Boolean> OVERSUBSCRIBED = Column.flag("oversubscribed");
    static final Columns COLUMNS = Columns.of(BACKEND, CONFIG, MODE, VCPUS, QUEUES, IOTHREADS, THREADS, IODEPTH, IOPS, P99,
            IRQS_PER_REQ, CPU_PER_IO, DEVICE_CPU_PER_IO, BUSIEST, VCPU_CPU, USR, SYS, HALT_POLL_NS, GUEST_COST_NS,
            OVERSUBSCRIBED, Grid.REP);

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
        int n = t.where(CONFIG.is(Config.MQ.label), OVERSUBSCRIBED.is(false)).stream().mapToInt(r -> r.get(VCPUS))
                .filter(v -> v >= 2).max().orElse(0);
        if (n == 0) {
            return Verdict.notTestable("mq at 2 vCPUs runs 2 vCPU threads and 2 IOThreads, more than this machine's "
                    + s.cpus() + " CPUs: every multi-vCPU mq point is oversubscribed, so no speedup can be shown honestly");
        }
        List<Verdict> parts = new ArrayList<>();
        for (String b : t.distinct(BACKEND)) {
            double mq = median(t, IOPS, b, Config.MQ, n);
            for (Config base : List.of(Config.SQ_GLOBAL, Config.SQ_IOTHREAD)) {
                String what = b + ": mq/" + base.label + " at " + n + " vCPUs";
                double busy = median(t, BUSIEST, b, base, n);
                if (!(busy >= SATURATED_PCT)) {
                    parts.add(Verdict.notTestable(String.format(Locale.ROOT, "%s: %s's busiest device thread ran at %.0f%%"
                            + " of a CPU (< %.0f%%), not saturated", what, base.label, busy, SATURATED_PCT)));
                } else {
                    parts.add(Verdict.atLeast(what, mq / median(t, IOPS, b, base, n), 1.2));
                }
            }
            parts.add(Verdict.atLeast(b + ": mq at " + n + " vCPUs / mq at 1", mq / median(t, IOPS, b, Config.MQ, 1), 1.2));
        }
        return Verdict.all(parts);
    }

    private static double median(Table t, Column<Double> c, String backend, Config config, int vcpus) {
        return t.median(c, BACKEND.is(backend), CONFIG.is(config.label), VCPUS.is(vcpus));
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
    public Columns columns() {
        return COLUMNS;
    }

    private static JobSpec spec(Sweep s, Backend b, Config c, int n) {
        return c.apply(Jobs.base(s).backend(b, b == Backend.LATENCY ? LATENCY_OPTS : ""), n).build();
    }

    @Override
    public Outcome run(Sweep s) throws Exception {
        Table t = new Table(COLUMNS);
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
                        t.row().set(BACKEND, b.label).set(CONFIG, c.label).set(MODE, c.mode.label).set(VCPUS, n)
                                .set(QUEUES, spec.virtqueues()).set(IOTHREADS, spec.iothreadCount()).set(THREADS, threads)
                                .set(IODEPTH, spec.iodepth()).set(IOPS, r.iops()).set(P99, Jobs.us(r.latNs(), 99))
                                .set(IRQS_PER_REQ, r.interruptsPerRequest()).set(CPU_PER_IO, r.cpuUsPerIo())
                                .set(DEVICE_CPU_PER_IO, r.deviceCpuUsPerIo()).set(BUSIEST, r.busiestDeviceThreadPercent())
                                .set(VCPU_CPU, r.meanJobThreadPercent()).set(USR, r.usrCpu()).set(SYS, r.sysCpu())
                                .set(HALT_POLL_NS, spec.haltPollNs()).set(GUEST_COST_NS, spec.guestCostNs())
                                .set(OVERSUBSCRIBED, threads > s.cpus()).set(Grid.REP, rep).add();
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
                List<Table.Row> rows = t.where(BACKEND.is(b.label), CONFIG.is(c.label));
                iops.summary(c.label, rows, VCPUS, IOPS, OVERSUBSCRIBED);
                cpu.summary(c.label, rows, VCPUS, CPU_PER_IO, OVERSUBSCRIBED);
                busy.summary(c.label, rows, VCPUS, BUSIEST, OVERSUBSCRIBED);
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
        double sqGlobal = median(t, IOPS, backend, Config.SQ_GLOBAL, n);
        for (Config c : Config.values()) {
            b.append(String.format(Locale.ROOT, " %s %s IOPS (%s sq-global; %.1f us CPU/IO; busiest device thread %.0f%%);",
                    c.label, Table.spread(t.values(IOPS, BACKEND.is(backend), CONFIG.is(c.label), VCPUS.is(n)), "%.0f"),
                    Jobs.fmtRatio(median(t, IOPS, backend, c, n) / sqGlobal), median(t, CPU_PER_IO, backend, c, n),
                    median(t, BUSIEST, backend, c, n)));
        }
        b.setLength(b.length() - 1);
        return b.append('.').toString();
    }

    private static boolean oversubscribed(Table t, String backend, int n) {
        return t.where(BACKEND.is(backend), VCPUS.is(n), CONFIG.is(Config.MQ.label)).stream()
                .anyMatch(r -> r.get(OVERSUBSCRIBED));
    }
}
