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

    static final List<Integer> DEPTHS = List.of(1, 64);
    static final List<String> ON_OFF = List.of("on", "off");

    static final Column<String> EVENT_IDX = Column.text("event_idx");
    static final Column<Integer> IODEPTH = Column.integer("iodepth");
    static final Column<String> DEFER_CALL = Column.text("defer_call");
    static final Column<Double> IOPS = Column.real("iops");
    static final Column<Double> IRQS_PER_REQ = Column.real("interrupts_per_req");
    static final Column<Double> KICKS_PER_REQ = Column.real("kicks_per_req");
    static final Column<Double> P99 = Column.real("p99_us");
    static final Columns COLUMNS = Columns.of(EVENT_IDX, IODEPTH, DEFER_CALL, Grid.REP, IOPS, IRQS_PER_REQ,
            KICKS_PER_REQ, P99);

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
        int top = DEPTHS.get(DEPTHS.size() - 1);
        for (String ev : List.of("off", "on")) {
            String at = "event_idx " + ev + ", iodepth ";
            parts.add(Verdict.atLeast("IOPS on/off at " + at + top, onOverOff(t, IOPS, ev, top), 1.05));
            parts.add(Verdict.atMost("interrupts/request on/off at " + at + top, onOverOff(t, IRQS_PER_REQ, ev, top), 0.999));
            parts.add(Verdict.atLeast("IOPS on/off at " + at + 1, onOverOff(t, IOPS, ev, 1), 0.95));
        }
        return Verdict.all(parts);
    }

    /** The median of {@code column} with defer_call on over that with it off, at one EVENT_IDX and iodepth. */
    private static double onOverOff(Table t, Column<Double> column, String eventIdx, int depth) {
        return median(t, column, eventIdx, depth, "on") / median(t, column, eventIdx, depth, "off");
    }

    /** On and off alternate innermost, within each repetition, so drift hits both alike. */
    static Grid grid(boolean quick) {
        return Grid.reps(Jobs.reps(quick)).then(EVENT_IDX, List.of("off", "on")).then(IODEPTH, DEPTHS)
                .then(DEFER_CALL, ON_OFF);
    }

    @Override
    public int steps(boolean quick) {
        return grid(quick).size();
    }

    @Override
    public String expectedRuntime(boolean quick) {
        return quick ? "~40 s" : "~4 min";
    }

    @Override
    public Columns columns() {
        return COLUMNS;
    }

    @Override
    public Outcome run(Sweep s) throws Exception {
        Table t = new Table(COLUMNS);
        for (Grid.Point p : grid(s.quick())) {
            JobSpec spec = Jobs.base(s).iodepth(p.get(IODEPTH)).deferCall(p.get(DEFER_CALL).equals("on"))
                    .eventIdx(p.get(EVENT_IDX).equals("on")).build();
            JobResult r = Jobs.run(s, "event-idx-" + p.get(EVENT_IDX) + "-qd" + p.get(IODEPTH) + "-defer-"
                    + p.get(DEFER_CALL) + "-" + p.get(Grid.REP), spec);
            t.row(p).set(IOPS, r.iops()).set(IRQS_PER_REQ, r.interruptsPerRequest()).set(KICKS_PER_REQ, r.kicksPerRequest())
                    .set(P99, Jobs.us(r.latNs(), 99)).add();
        }
        Panel iops = Panel.bars("IOPS (median, bars: min-max), 4k randread, 1 vCPU, mq", "iodepth, EVENT_IDX", "IOPS");
        Panel irqs = Panel.bars("Interrupts per request (median)", "iodepth, EVENT_IDX", "interrupts / request");
        List<String> findings = new ArrayList<>();
        for (String on : ON_OFF) {
            List<Object> x = new ArrayList<>();
            List<Double> y = new ArrayList<>();
            List<Double> err = new ArrayList<>();
            List<Double> z = new ArrayList<>();
            for (String ev : List.of("off", "on")) {
                for (int d : DEPTHS) {
                    double[] v = t.values(IOPS, EVENT_IDX.is(ev), IODEPTH.is(d), DEFER_CALL.is(on));
                    double med = Table.median(v);
                    x.add("qd" + d + ", idx " + ev);
                    y.add(med);
                    err.add(Panel.halfRange(v, med));
                    z.add(median(t, IRQS_PER_REQ, ev, d, on));
                }
            }
            iops.series("defer_call " + on, x, y, err);
            irqs.series("defer_call " + on, x, z);
        }
        for (String ev : List.of("off", "on")) {
            for (int d : DEPTHS) {
                findings.add(String.format(Locale.ROOT, "event_idx %s, iodepth %d: defer_call on gives %+.1f%% IOPS"
                                + " vs off (medians of %d: %s vs %s); %.3f vs %.3f interrupts per request.", ev, d,
                        (onOverOff(t, IOPS, ev, d) - 1) * 100, Jobs.reps(s.quick()),
                        Table.spread(t.values(IOPS, EVENT_IDX.is(ev), IODEPTH.is(d), DEFER_CALL.is("on")), "%.0f"),
                        Table.spread(t.values(IOPS, EVENT_IDX.is(ev), IODEPTH.is(d), DEFER_CALL.is("off")), "%.0f"),
                        median(t, IRQS_PER_REQ, ev, d, "on"), median(t, IRQS_PER_REQ, ev, d, "off")));
            }
        }
        int top = DEPTHS.get(DEPTHS.size() - 1);
        findings.add(String.format(Locale.ROOT, "Without defer_call at iodepth %d, EVENT_IDX alone sends %.3f interrupts"
                + " per request (%.3f without it): the guest's used_event already suppresses most of them.", top,
                median(t, IRQS_PER_REQ, "on", top, "off"), median(t, IRQS_PER_REQ, "off", top, "off")));
        return new Outcome(t, List.of(iops, irqs), findings, List.of());
    }

    private static double median(Table t, Column<Double> column, String eventIdx, int depth, String deferCall) {
        return t.median(column, EVENT_IDX.is(eventIdx), IODEPTH.is(depth), DEFER_CALL.is(deferCall));
    }
}
