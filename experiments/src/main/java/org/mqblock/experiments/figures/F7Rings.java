package org.mqblock.experiments.figures;

import static org.mqblock.experiments.RingBench.ALLOC;
import static org.mqblock.experiments.RingBench.BURST;
import static org.mqblock.experiments.RingBench.ERROR;
import static org.mqblock.experiments.RingBench.IMPL;
import static org.mqblock.experiments.RingBench.METRIC;
import static org.mqblock.experiments.RingBench.RATIO;
import static org.mqblock.experiments.RingBench.UNIT;
import static org.mqblock.experiments.RingBench.VALUE;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.mqblock.experiments.RingBench;

/**
 * F7: our SPSC ring against JCTools, Agrona, the Disruptor and ArrayBlockingQueue between two
 * threads, from the JMH run that {@code mqb ring-bench} also makes (its JSON stays in results/F7/).
 */
final class F7Rings implements Figure {

    @Override
    public String id() {
        return "F7";
    }

    @Override
    public String slug() {
        return "spsc-rings";
    }

    @Override
    public String claim() {
        return "SpscRing moves elements between two threads at least as fast as JCTools' SpscArrayQueue (throughput"
                + " >= 1.0x at burst 1, round trip <= 1.0x), drains batches faster (>= 1.3x at burst 32), and allocates"
                + " nothing per element (< 1 B/op).";
    }

    @Override
    public Verdict judge(Table t, Sweep s) {
        if (s.cpus() < 2) {
            return Verdict.notTestable("two threads need 2 CPUs; this machine has " + s.cpus());
        }
        Column.Match us = IMPL.is(RingBench.SUBJECT);
        List<Verdict> parts = new ArrayList<>();
        parts.add(Verdict.atLeast("throughput burst 1 vs JCTools", t.mean(RATIO, us, METRIC.is(RingBench.THROUGHPUT),
                BURST.is(1)), 1.0));
        parts.add(Verdict.atLeast("throughput burst 32 vs JCTools", t.mean(RATIO, us, METRIC.is(RingBench.THROUGHPUT),
                BURST.is(32)), 1.3));
        parts.add(Verdict.atMost("round trip vs JCTools", t.mean(RATIO, us, METRIC.is(RingBench.ROUND_TRIP)), 1.0));
        double alloc = Arrays.stream(t.values(ALLOC, us)).max().orElse(Double.NaN);
        parts.add(Verdict.atMost("most B/op allocated", alloc, 0.99));
        return Verdict.all(parts);
    }

    @Override
    public int steps(boolean quick) {
        return 1;
    }

    @Override
    public String expectedRuntime(boolean quick) {
        return quick ? "~2.5 min" : "~8 min";
    }

    @Override
    public Columns columns() {
        return RingBench.COLUMNS;
    }

    @Override
    public Outcome run(Sweep s) throws Exception {
        List<RingBench.Row> rows = RingBench.run(s.quick(), s.dir(), s.log());
        s.step();
        Table t = RingBench.table(rows);
        List<Panel> panels = new ArrayList<>();
        for (int burst : new int[] {1, 32}) {
            panels.add(bars(t, RingBench.THROUGHPUT, burst, "Throughput, burst " + burst));
        }
        panels.add(bars(t, RingBench.ROUND_TRIP, -1, "Round trip (lower is better)"));
        List<String> findings = new ArrayList<>();
        for (RingBench.Row r : rows) {
            if (r.impl().equals(RingBench.SUBJECT)) {
                findings.add(String.format(Locale.ROOT, "SpscRing %s%s: %.2f %s, %.2fx JCTools, %.1f B/op allocated.",
                        r.metric(), r.metric().equals(RingBench.THROUGHPUT) ? " burst " + r.burst() : "", r.value(),
                        r.unit(), r.ratioVsJctools(), r.allocBytesPerOp()));
            }
        }
        return new Outcome(t, panels, findings, List.of(s.cpus() < 3 ? "With " + s.cpus() + " CPUs at most one of"
                + " the two threads can be pinned (Chronicle never hands out CPU 0); results/F7/pinning.txt says which." : ""));
    }

    private static Panel bars(Table t, String metric, int burst, String title) {
        List<Table.Row> rows = t.where(METRIC.is(metric)).stream().filter(r -> burst < 0 || r.get(BURST) == burst)
                .toList();
        String unit = rows.isEmpty() ? "" : rows.get(0).get(UNIT);
        List<Object> impls = new ArrayList<>();
        List<Double> values = new ArrayList<>();
        List<Double> errors = new ArrayList<>();
        for (Table.Row r : rows) {
            impls.add(r.get(IMPL));
            values.add(r.num(VALUE));
            double e = r.num(ERROR);
            errors.add(Double.isNaN(e) ? 0.0 : e); // JMH's 99.9% confidence half-width
        }
        return Panel.bars(title, "", unit).series(metric, impls, values, errors);
    }
}
