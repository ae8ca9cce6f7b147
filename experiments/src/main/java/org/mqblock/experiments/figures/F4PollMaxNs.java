package org.mqblock.experiments.figures;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.mqblock.experiments.job.Backend;
import org.mqblock.experiments.job.JobResult;
import org.mqblock.experiments.job.JobSpec;

/** F4: latency at iodepth 1 as the IOThread's adaptive polling window (poll_max_ns) grows. */
final class F4PollMaxNs implements Figure {

    static final List<Long> POLL_MAX_NS = List.of(0L, 4_096L, 16_384L, 32_768L, 65_536L);

    static final Column<String> GUEST = Column.text("guest");
    static final Column<Long> POLL_NS = Column.count("poll_max_ns");
    static final Column<Double> IOPS = Column.real("iops");
    static final Column<Double> P50 = Column.real("p50_us");
    static final Column<Double> P99 = Column.real("p99_us");
    static final Column<Double> P999 = Column.real("p999_us");
    static final Column<Double> USR = Column.real("usr_cpu_pct");
    static final Column<Double> SYS = Column.real("sys_cpu_pct");
    static final Columns COLUMNS = Columns.of(GUEST, POLL_NS, IOPS, P50, P99, P999, USR, SYS, Grid.REP);

    @Override
    public String id() {
        return "F4";
    }

    @Override
    public String slug() {
        return "poll-max-ns";
    }

    @Override
    public String claim() {
        return "At iodepth 1 an IOThread that busy-polls before sleeping answers a kick without a wake-up: with"
                + " poll_max_ns 32768, the median p50 latency is <= 0.9x that without polling, for a guest that sleeps on interrupts"
                + " and one that polls, at a price: the process uses at least as much CPU time.";
    }

    @Override
    public Verdict judge(Table t, Sweep s) {
        if (s.cpus() < 2) {
            return Verdict.notTestable("a polling IOThread and a vCPU need 2 CPUs; this machine has " + s.cpus());
        }
        List<Verdict> parts = new ArrayList<>();
        for (String guest : t.distinct(GUEST)) {
            parts.add(Verdict.atMost("guest " + guest + ": p50 at 32768/0 ns", median(t, P50, guest, 32_768)
                    / median(t, P50, guest, 0), 0.9));
            parts.add(Verdict.atLeast("guest " + guest + ": usr+sys CPU at 32768/0 ns", cpu(t, guest, 32_768)
                    / cpu(t, guest, 0), 1.0));
        }
        return Verdict.all(parts);
    }

    private static double median(Table t, Column<Double> c, String guest, long ns) {
        return t.median(c, GUEST.is(guest), POLL_NS.is(ns));
    }

    private static double cpu(Table t, String guest, long ns) {
        return median(t, USR, guest, ns) + median(t, SYS, guest, ns);
    }

    /** Repetitions outermost, the polling windows innermost: drift touches every window alike. */
    static Grid grid(boolean quick) {
        return Grid.reps(Jobs.reps(quick)).then(GUEST, List.of("polls", "interrupts")).then(POLL_NS, POLL_MAX_NS);
    }

    @Override
    public int steps(boolean quick) {
        return grid(quick).size();
    }

    @Override
    public String expectedRuntime(boolean quick) {
        return quick ? "~1 min" : "~5 min";
    }

    @Override
    public Columns columns() {
        return COLUMNS;
    }

    @Override
    public Outcome run(Sweep s) throws Exception {
        Table t = new Table(COLUMNS);
        for (Grid.Point p : grid(s.quick())) {
            JobSpec spec = Jobs.base(s).iodepth(1).backend(Backend.NULL, "").pollMaxNs(p.get(POLL_NS))
                    .guestPoll(p.get(GUEST).equals("polls")).build();
            JobResult r = Jobs.run(s, "guest-" + p.get(GUEST) + "-poll-" + p.get(POLL_NS) + "-" + p.get(Grid.REP), spec);
            t.row(p).set(IOPS, r.iops()).set(P50, Jobs.us(r.latNs(), 50)).set(P99, Jobs.us(r.latNs(), 99))
                    .set(P999, Jobs.us(r.latNs(), 99.9)).set(USR, r.usrCpu()).set(SYS, r.sysCpu()).add();
        }
        Panel p50 = Panel.lines("p50 latency, iodepth 1 (null backend, mq)", "IOThread poll_max_ns", "p50 latency (us)");
        Panel p99 = Panel.lines("p99 latency, iodepth 1", "IOThread poll_max_ns", "p99 latency (us)");
        Panel cpu = Panel.lines("System CPU (process)", "IOThread poll_max_ns", "sys, % of one CPU");
        List<String> findings = new ArrayList<>();
        for (String guest : List.of("polls", "interrupts")) {
            List<Table.Row> rows = t.where(GUEST.is(guest));
            String name = "guest " + (guest.equals("polls") ? "polls used ring" : "sleeps on interrupts");
            p50.summary(name, rows, POLL_NS, P50, null);
            p99.summary(name, rows, POLL_NS, P99, null);
            cpu.summary(name, rows, POLL_NS, SYS, null);
            double off = median(t, P50, guest, 0);
            double def = median(t, P50, guest, 32_768);
            findings.add(String.format(Locale.ROOT, "Guest %s (median [min-max] of %d): p50 %s us without IOThread polling,"
                            + " %s us at poll_max_ns 32768 (%s of it); IOPS %s; sys CPU %.0f%% vs %.0f%%.", guest,
                    Jobs.reps(s.quick()), Table.spread(t.values(P50, GUEST.is(guest), POLL_NS.is(0L)), "%.1f"),
                    Table.spread(t.values(P50, GUEST.is(guest), POLL_NS.is(32_768L)), "%.1f"), Jobs.fmtRatio(def / off),
                    Jobs.fmtRatio(median(t, IOPS, guest, 32_768) / median(t, IOPS, guest, 0)),
                    median(t, SYS, guest, 0), median(t, SYS, guest, 32_768)));
        }
        return new Outcome(t, List.of(p50, p99, cpu), findings, List.of());
    }
}
