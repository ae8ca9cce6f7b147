package org.mqblock.experiments.figures;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.mqblock.experiments.job.JobResult;
import org.mqblock.experiments.job.JobSpec;

/**
 * F3: completion batching with DeferCall on and off, at iodepth 1 and 64: IOPS and interrupts per
 * request. On and off alternate within each repetition so drift hits both alike.
 */
final class F3DeferCall implements Figure {

    static final int[] DEPTHS = {1, 64};

    @Override
    public String id() {
        return "F3";
    }

    @Override
    public String slug() {
        return "defer-call";
    }

    @Override
    public String claim() {
        return "Deferring interrupts to the end of a completion batch (defer_call) sends fewer interrupts per request"
                + " and raises IOPS by >= 5% at the highest iodepth, and costs <= 5% of IOPS at iodepth 1 (means of the"
                + " repetitions, with EVENT_IDX on and off).";
    }

    @Override
    public Verdict judge(Table t, Sweep s) {
        List<Verdict> parts = new ArrayList<>();
        int top = DEPTHS[DEPTHS.length - 1];
        for (String ev : new String[] {"off", "on"}) {
            String at = "event_idx " + ev + ", iodepth ";
            parts.add(Verdict.atLeast("IOPS on/off at " + at + top, t.mean("iops", "event_idx", ev, "iodepth", top,
                    "defer_call", "on") / t.mean("iops", "event_idx", ev, "iodepth", top, "defer_call", "off"), 1.05));
            parts.add(Verdict.atMost("interrupts/request on/off at " + at + top, t.mean("interrupts_per_req",
                    "event_idx", ev, "iodepth", top, "defer_call", "on") / t.mean("interrupts_per_req", "event_idx", ev,
                    "iodepth", top, "defer_call", "off"), 0.999));
            parts.add(Verdict.atLeast("IOPS on/off at " + at + 1, t.mean("iops", "event_idx", ev, "iodepth", 1,
                    "defer_call", "on") / t.mean("iops", "event_idx", ev, "iodepth", 1, "defer_call", "off"), 0.95));
        }
        return Verdict.all(parts);
    }

    private static int reps(boolean quick) {
        return quick ? 1 : 3;
    }

    @Override
    public int steps(boolean quick) {
        return reps(quick) * DEPTHS.length * 4;
    }

    @Override
    public String expectedRuntime(boolean quick) {
        return quick ? "~20 s" : "~2.5 min";
    }

    @Override
    public List<String> columns() {
        return List.of("event_idx", "iodepth", "defer_call", "rep", "iops", "interrupts_per_req", "kicks_per_req", "p99_us");
    }

    @Override
    public Outcome run(Sweep s) throws Exception {
        Table t = new Table(columns().toArray(String[]::new));
        for (int rep = 0; rep < reps(s.quick()); rep++) {
            for (boolean eventIdx : new boolean[] {false, true}) {
                for (int d : DEPTHS) {
                    for (boolean on : new boolean[] {true, false}) {
                        JobSpec spec = Jobs.base(s).iodepth(d).deferCall(on).eventIdx(eventIdx).build();
                        JobResult r = Jobs.run(s, "event-idx-" + onOff(eventIdx) + "-qd" + d + "-defer-" + onOff(on)
                                + "-" + rep, spec);
                        t.add(onOff(eventIdx), d, onOff(on), rep, r.iops(), r.interruptsPerRequest(),
                                r.kicksPerRequest(), Jobs.us(r.latNs(), 99));
                    }
                }
            }
        }
        Panel iops = Panel.bars("IOPS (mean of repetitions), 4k randread, 1 vCPU, mq", "iodepth, EVENT_IDX", "IOPS");
        Panel irqs = Panel.bars("Interrupts per request", "iodepth, EVENT_IDX", "interrupts / request");
        List<String> findings = new ArrayList<>();
        for (String on : new String[] {"on", "off"}) {
            List<Object> x = new ArrayList<>();
            List<Double> y = new ArrayList<>();
            List<Double> z = new ArrayList<>();
            for (String ev : new String[] {"off", "on"}) {
                for (int d : DEPTHS) {
                    x.add("qd" + d + ", idx " + ev);
                    y.add(mean(t, ev, d, on, 4));
                    z.add(mean(t, ev, d, on, 5));
                }
            }
            iops.series("defer_call " + on, x, y);
            irqs.series("defer_call " + on, x, z);
        }
        for (String ev : new String[] {"off", "on"}) {
            for (int d : DEPTHS) {
                double change = mean(t, ev, d, "on", 4) / mean(t, ev, d, "off", 4) - 1;
                findings.add(String.format(Locale.ROOT, "event_idx %s, iodepth %d: defer_call on gives %+.1f%% IOPS"
                                + " vs off; %.3f vs %.3f interrupts per request.", ev, d, change * 100,
                        mean(t, ev, d, "on", 5), mean(t, ev, d, "off", 5)));
            }
        }
        int top = DEPTHS[DEPTHS.length - 1];
        findings.add(String.format(Locale.ROOT, "Without defer_call at iodepth %d, EVENT_IDX alone sends %.3f interrupts"
                + " per request (%.3f without it): the guest's used_event already suppresses most of them.", top,
                mean(t, "on", top, "off", 5), mean(t, "off", top, "off", 5)));
        return new Outcome(t, List.of(iops, irqs), findings, List.of());
    }

    private static String onOff(boolean b) {
        return b ? "on" : "off";
    }

    private static double mean(Table t, String eventIdx, int depth, String on, int column) {
        return t.select(r -> r[0].equals(eventIdx) && ((Number) r[1]).intValue() == depth && r[2].equals(on)).stream()
                .mapToDouble(r -> Table.number(r, column)).average().orElse(Double.NaN);
    }
}
