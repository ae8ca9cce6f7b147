package org.mqblock.experiments.figures;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.mqblock.experiments.job.Backend;
import org.mqblock.experiments.job.JobResult;
import org.mqblock.experiments.job.JobSpec;

/** F4: latency at iodepth 1 as the IOThread's adaptive polling window (poll_max_ns) grows. */
final class F4PollMaxNs implements Figure {

    static final long[] POLL_MAX_NS = {0, 4_096, 16_384, 32_768, 65_536};

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
        for (Object guest : t.distinct("guest")) {
            parts.add(Verdict.atMost("guest " + guest + ": p50 at 32768/0 ns", t.median("p50_us", "guest", guest,
                    "poll_max_ns", 32_768) / t.median("p50_us", "guest", guest, "poll_max_ns", 0), 0.9));
            parts.add(Verdict.atLeast("guest " + guest + ": usr+sys CPU at 32768/0 ns", cpu(t, guest, 32_768)
                    / cpu(t, guest, 0), 1.0));
        }
        return Verdict.all(parts);
    }

    private static double cpu(Table t, Object guest, long ns) {
        return t.median("usr_cpu_pct", "guest", guest, "poll_max_ns", ns)
                + t.median("sys_cpu_pct", "guest", guest, "poll_max_ns", ns);
    }

    @Override
    public int steps(boolean quick) {
        return Jobs.reps(quick) * POLL_MAX_NS.length * 2;
    }

    @Override
    public String expectedRuntime(boolean quick) {
        return quick ? "~1 min" : "~5 min";
    }

    @Override
    public List<String> columns() {
        return List.of("guest", "poll_max_ns", "iops", "p50_us", "p99_us", "p999_us", "usr_cpu_pct", "sys_cpu_pct", "rep");
    }

    @Override
    public Outcome run(Sweep s) throws Exception {
        Table t = new Table(columns().toArray(String[]::new));
        // Repetitions outermost, the polling windows innermost: drift touches every window alike.
        for (int rep = 0; rep < Jobs.reps(s.quick()); rep++) {
            for (boolean guestPolls : new boolean[] {true, false}) {
                String guest = guestPolls ? "polls" : "interrupts";
                for (long ns : POLL_MAX_NS) {
                    JobSpec spec = Jobs.base(s).iodepth(1).backend(Backend.NULL, "").pollMaxNs(ns)
                            .guestPoll(guestPolls).build();
                    JobResult r = Jobs.run(s, "guest-" + guest + "-poll-" + ns + "-" + rep, spec);
                    t.add(guest, ns, r.iops(), Jobs.us(r.latNs(), 50), Jobs.us(r.latNs(), 99), Jobs.us(r.latNs(), 99.9),
                            r.usrCpu(), r.sysCpu(), rep);
                }
            }
        }
        Panel p50 = Panel.lines("p50 latency, iodepth 1 (null backend, mq)", "IOThread poll_max_ns", "p50 latency (us)");
        Panel p99 = Panel.lines("p99 latency, iodepth 1", "IOThread poll_max_ns", "p99 latency (us)");
        Panel cpu = Panel.lines("System CPU (process)", "IOThread poll_max_ns", "sys, % of one CPU");
        List<String> findings = new ArrayList<>();
        for (String guest : new String[] {"polls", "interrupts"}) {
            List<Object[]> rows = t.where("guest", guest);
            String name = "guest " + (guest.equals("polls") ? "polls used ring" : "sleeps on interrupts");
            p50.summary(name, t, rows, "poll_max_ns", "p50_us", null);
            p99.summary(name, t, rows, "poll_max_ns", "p99_us", null);
            cpu.summary(name, t, rows, "poll_max_ns", "sys_cpu_pct", null);
            double off = t.median("p50_us", "guest", guest, "poll_max_ns", 0);
            double def = t.median("p50_us", "guest", guest, "poll_max_ns", 32_768);
            findings.add(String.format(Locale.ROOT, "Guest %s (median [min-max] of %d): p50 %s us without IOThread polling,"
                            + " %s us at poll_max_ns 32768 (%s lower); IOPS %s; sys CPU %.0f%% vs %.0f%%.", guest,
                    Jobs.reps(s.quick()), Table.spread(t.values("p50_us", "guest", guest, "poll_max_ns", 0), "%.1f"),
                    Table.spread(t.values("p50_us", "guest", guest, "poll_max_ns", 32_768), "%.1f"), Jobs.fmtRatio(off / def),
                    Jobs.fmtRatio(t.median("iops", "guest", guest, "poll_max_ns", 32_768)
                            / t.median("iops", "guest", guest, "poll_max_ns", 0)),
                    t.median("sys_cpu_pct", "guest", guest, "poll_max_ns", 0),
                    t.median("sys_cpu_pct", "guest", guest, "poll_max_ns", 32_768)));
        }
        return new Outcome(t, List.of(p50, p99, cpu), findings, List.of());
    }
}
