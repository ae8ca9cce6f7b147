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
                + " and raises IOPS by >= 5% at the highest iodepth, and costs <= 5% of IOPS at iodepth 1 (medians of the"
                + " repetitions, with EVENT_IDX on and off).";
    }

    @Override
    public Verdict judge(Table t, Sweep s) {
        List<Verdict> parts = new ArrayList<>();
        int top = DEPTHS[DEPTHS.length - 1];
        for (String ev : new String[] {"off", "on"}) {
            String at = "event_idx " + ev + ", iodepth ";
            parts.add(Verdict.atLeast("IOPS on/off at " + at + top, t.median("iops", "event_idx", ev, "iodepth", top,
                    "defer_call", "on") / t.median("iops", "event_idx", ev, "iodepth", top, "defer_call", "off"), 1.05));
            parts.add(Verdict.atMost("interrupts/request on/off at " + at + top, t.median("interrupts_per_req",
                    "event_idx", ev, "iodepth", top, "defer_call", "on") / t.median("interrupts_per_req", "event_idx", ev,
                    "iodepth", top, "defer_call", "off"), 0.999));
            parts.add(Verdict.atLeast("IOPS on/off at " + at + 1, t.median("iops", "event_idx", ev, "iodepth", 1,
                    "defer_call", "on") / t.median("iops", "event_idx", ev, "iodepth", 1, "defer_call", "off"), 0.95));
        }
        return Verdict.all(parts);
    }

    private static int reps(boolean quick) {
        return Jobs.reps(quick);
    }

    @Override
    public int steps(boolean quick) {
        return reps(quick) * DEPTHS.length * 4;
    }

    @Override
    public String expectedRuntime(boolean quick) {
        return quick ? "~40 s" : "~4 min";
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
        Panel iops = Panel.bars("IOPS (median, bars: min-max), 4k randread, 1 vCPU, mq", "iodepth, EVENT_IDX", "IOPS");
        Panel irqs = Panel.bars("Interrupts per request (median)", "iodepth, EVENT_IDX", "interrupts / request");
        List<String> findings = new ArrayList<>();
        for (String on : new String[] {"on", "off"}) {
            List<Object> x = new ArrayList<>();
            List<Double> y = new ArrayList<>();
            List<Double> err = new ArrayList<>();
            List<Double> z = new ArrayList<>();
            for (String ev : new String[] {"off", "on"}) {
                for (int d : DEPTHS) {
                    double[] v = t.values("iops", "event_idx", ev, "iodepth", d, "defer_call", on);
                    double med = Table.median(v);
                    x.add("qd" + d + ", idx " + ev);
                    y.add(med);
                    err.add(Math.max(med - java.util.Arrays.stream(v).min().orElse(med),
                            java.util.Arrays.stream(v).max().orElse(med) - med));
                    z.add(t.median("interrupts_per_req", "event_idx", ev, "iodepth", d, "defer_call", on));
                }
            }
            iops.series("defer_call " + on, x, y, err);
            irqs.series("defer_call " + on, x, z);
        }
        for (String ev : new String[] {"off", "on"}) {
            for (int d : DEPTHS) {
                double change = median(t, ev, d, "on", "iops") / median(t, ev, d, "off", "iops") - 1;
                findings.add(String.format(Locale.ROOT, "event_idx %s, iodepth %d: defer_call on gives %+.1f%% IOPS"
                                + " vs off (medians of %d: %s vs %s); %.3f vs %.3f interrupts per request.", ev, d,
                        change * 100, reps(s.quick()), Table.spread(t.values("iops", "event_idx", ev, "iodepth", d,
                                "defer_call", "on"), "%.0f"), Table.spread(t.values("iops", "event_idx", ev, "iodepth", d,
                                "defer_call", "off"), "%.0f"), median(t, ev, d, "on", "interrupts_per_req"),
                        median(t, ev, d, "off", "interrupts_per_req")));
            }
        }
        int top = DEPTHS[DEPTHS.length - 1];
        findings.add(String.format(Locale.ROOT, "Without defer_call at iodepth %d, EVENT_IDX alone sends %.3f interrupts"
                + " per request (%.3f without it): the guest's used_event already suppresses most of them.", top,
                median(t, "on", top, "off", "interrupts_per_req"), median(t, "off", top, "off", "interrupts_per_req")));
        return new Outcome(t, List.of(iops, irqs), findings, List.of());
    }

    private static String onOff(boolean b) {
        return b ? "on" : "off";
    }

    private static double median(Table t, String eventIdx, int depth, String on, String column) {
        return t.median(column, "event_idx", eventIdx, "iodepth", depth, "defer_call", on);
    }
}
