package org.mqblock.experiments;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The shaping of JMH results into rows, CSV and the ratio line; JMH itself is not run. */
class RingBenchTest {

    private static RingBench.Sample tpt(String impl, int burst, double value) {
        return new RingBench.Sample(impl, burst, RingBench.THROUGHPUT, value, value / 10, "ops/us", 0.0);
    }

    private static RingBench.Sample rtt(String impl, double ns) {
        return new RingBench.Sample(impl, 1, RingBench.ROUND_TRIP, ns, 1.0, "ns/op", 0.0);
    }

    private static final List<RingBench.Sample> SAMPLES = List.of(
            tpt("SpscRing", 1, 120.0), tpt("JCToolsSpsc", 1, 100.0),
            tpt("SpscRing", 32, 260.0), tpt("JCToolsSpsc", 32, 200.0),
            rtt("SpscRing", 150.0), rtt("JCToolsSpsc", 200.0),
            tpt("ArrayBlockingQueue", 1, 10.0));

    private static RingBench.Row row(List<RingBench.Row> rows, String impl, String metric, int burst) {
        return rows.stream()
                .filter(r -> r.impl().equals(impl) && r.metric().equals(metric) && r.burst() == burst)
                .findFirst().orElseThrow();
    }

    @Test
    void ratioIsValueOverJctoolsForTheSameMetricAndBurst() {
        List<RingBench.Row> rows = RingBench.withRatios(SAMPLES);
        assertEquals(1.2, row(rows, "SpscRing", RingBench.THROUGHPUT, 1).ratioVsJctools(), 1e-12);
        assertEquals(1.3, row(rows, "SpscRing", RingBench.THROUGHPUT, 32).ratioVsJctools(), 1e-12);
        assertEquals(0.75, row(rows, "SpscRing", RingBench.ROUND_TRIP, 1).ratioVsJctools(), 1e-12);
        assertEquals(0.1, row(rows, "ArrayBlockingQueue", RingBench.THROUGHPUT, 1).ratioVsJctools(), 1e-12);
        assertEquals(1.0, row(rows, "JCToolsSpsc", RingBench.THROUGHPUT, 32).ratioVsJctools(), 1e-12);
    }

    @Test
    void ratioIsUnknownWithoutABaseline() {
        List<RingBench.Row> rows = RingBench.withRatios(List.of(tpt("SpscRing", 1, 120.0), tpt("JCToolsSpsc", 32, 1.0)));
        assertTrue(Double.isNaN(row(rows, "SpscRing", RingBench.THROUGHPUT, 1).ratioVsJctools()));
        assertTrue(RingBench.csv(rows).lines().skip(1).findFirst().orElseThrow().endsWith(","));
    }

    @Test
    void csvHasTheDocumentedColumnsAndOneLinePerRow() {
        List<RingBench.Row> rows = RingBench.withRatios(SAMPLES);
        List<String> lines = RingBench.csv(rows).lines().toList();
        assertEquals("impl,burst,metric,value,error,unit,alloc_bytes_per_op,ratio_vs_jctools", lines.get(0));
        assertEquals(String.join(",", RingBench.COLUMNS.names()), lines.get(0), "one declaration: F7's columns");
        assertEquals(SAMPLES.size() + 1, lines.size());
        assertEquals("SpscRing,32,throughput,260,26,ops/us,0,1.3000", lines.get(3));
        for (String line : lines) {
            assertEquals(8, line.split(",", -1).length, line);
        }
    }

    @Test
    void ratioLineNamesAllThreeRatiosOfOurRing() {
        String line = RingBench.ratioLine(RingBench.withRatios(SAMPLES));
        assertTrue(line.contains("burst 1 1.20x"), line);
        assertTrue(line.contains("burst 32 1.30x"), line);
        assertTrue(line.contains("round-trip 0.75x"), line);
        assertTrue(line.contains("max alloc 0.000 B/op"), line);
        assertEquals(1, line.lines().count());
    }

    @Test
    void allocationIsPerElementMovedNotPerInvocation() {
        // 2 B per invocation, 300 invocations/us of which 100 moved an element: 6 B per element.
        assertEquals(6.0, RingBench.allocPerElement(2.0, 300.0, 100.0), 1e-12);
        assertTrue(Double.isNaN(RingBench.allocPerElement(2.0, 300.0, 0.0)));
    }

    @Test
    void pinningSummaryCountsOutcomesPerRole() {
        String s = RingBench.pinningSummary(List.of(
                "RingThroughputBench impl=SpscRing burst=1 consumer: bound=true cpu=1 os-mask={1}",
                "RingThroughputBench impl=JCToolsSpsc burst=1 consumer: bound=true cpu=1 os-mask={1}",
                "RingThroughputBench impl=SpscRing burst=1 producer: bound=false os-mask={0, 1}"));
        assertEquals("consumer: bound=true cpu=1 os-mask={1} x2; producer: bound=false os-mask={0, 1} x1", s);
        assertEquals("not recorded", RingBench.pinningSummary(List.of()));
    }

    @Test
    void ringBenchIsAnMqbSubcommandWritingToResultsF7ByDefault() {
        picocli.CommandLine sub = Mqb.commandLine().getSubcommands().get("ring-bench");
        assertTrue(sub != null, "mqb has no ring-bench subcommand");
        assertTrue(sub.getCommandSpec().findOption("--quick") != null);
        assertEquals("results/F7", sub.getCommandSpec().findOption("--out").defaultValue());
    }
}
