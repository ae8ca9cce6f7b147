package org.mqblock.experiments.figures;

import java.util.ArrayList;
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
        String us = RingBench.SUBJECT;
        List<Verdict> parts = new ArrayList<>();
        parts.add(Verdict.atLeast("throughput burst 1 vs JCTools", t.mean("ratio_vs_jctools", "impl", us, "metric",
                RingBench.THROUGHPUT, "burst", 1), 1.0));
        parts.add(Verdict.atLeast("throughput burst 32 vs JCTools", t.mean("ratio_vs_jctools", "impl", us, "metric",
                RingBench.THROUGHPUT, "burst", 32), 1.3));
        parts.add(Verdict.atMost("round trip vs JCTools", t.mean("ratio_vs_jctools", "impl", us, "metric",
                RingBench.ROUND_TRIP), 1.0));
        int a = t.index("alloc_bytes_per_op");
        double alloc = t.where("impl", us).stream().mapToDouble(r -> Table.number(r, a)).max().orElse(Double.NaN);
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
    public List<String> columns() {
        return List.of("impl", "burst", "metric", "value", "error", "unit", "alloc_bytes_per_op", "ratio_vs_jctools");
    }

    @Override
    public Outcome run(Sweep s) throws Exception {
        List<RingBench.Row> rows = RingBench.run(s.quick(), s.dir(), s.log());
        s.step();
        Table t = new Table(columns().toArray(String[]::new));
        for (RingBench.Row r : rows) {
            t.add(r.impl(), r.burst(), r.metric(), r.value(), r.error(), r.unit(), r.allocBytesPerOp(), r.ratioVsJctools());
        }
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
        List<Object[]> rows = t.select(r -> r[2].equals(metric) && (burst < 0 || ((Number) r[1]).intValue() == burst));
        String unit = rows.isEmpty() ? "" : (String) rows.get(0)[5];
        List<Object> impls = new ArrayList<>();
        List<Double> values = new ArrayList<>();
        for (Object[] r : rows) {
            impls.add(r[0]);
            values.add(Table.number(r, 3));
        }
        return Panel.bars(title, "", unit).series(metric, impls, values);
    }
}
