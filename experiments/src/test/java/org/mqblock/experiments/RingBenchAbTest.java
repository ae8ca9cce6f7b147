package org.mqblock.experiments;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.mqblock.benchmarks.ring.AbRunner;

/** {@code mqb ring-bench --ab}: per-round ratios, their summary and files, and one tiny real run. */
class RingBenchAbTest {

    private static AbRunner.Sample s(int round, String metric, int burst, String impl, double value) {
        return new AbRunner.Sample(round, metric, burst, impl, value, 0.0, Double.NaN, Double.NaN);
    }

    @Test
    void ratiosPairTheCandidatesByRoundAndTheSummaryTakesTheirMedianAndRange() {
        List<AbRunner.Sample> samples = List.of(
                s(0, AbRunner.THROUGHPUT, 1, "JCToolsSpsc", 100), s(0, AbRunner.THROUGHPUT, 1, "SpscRing", 120),
                s(1, AbRunner.THROUGHPUT, 1, "SpscRing", 50), s(1, AbRunner.THROUGHPUT, 1, "JCToolsSpsc", 100),
                s(2, AbRunner.THROUGHPUT, 1, "JCToolsSpsc", 10), s(2, AbRunner.THROUGHPUT, 1, "SpscRing", 11),
                s(0, AbRunner.ROUND_TRIP, 1, "JCToolsSpsc", 400), s(0, AbRunner.ROUND_TRIP, 1, "SpscRing", 200));
        List<RingBenchAb.Summary> out = RingBenchAb.summarise(samples, "JCToolsSpsc", "SpscRing");
        assertEquals(2, out.size());
        RingBenchAb.Summary tpt = out.get(0);
        assertEquals(AbRunner.THROUGHPUT, tpt.metric());
        // Ratios 1.2, 0.5, 1.1: their median, not the ratio of the medians (50 / 100).
        assertEquals(1.1, tpt.ratioMedian(), 1e-12);
        assertEquals(0.5, tpt.ratioMin(), 1e-12);
        assertEquals(1.2, tpt.ratioMax(), 1e-12);
        assertEquals(3, tpt.rounds());
        assertEquals(100, tpt.baselineMedian(), 1e-12);
        assertEquals(50, out.get(1).ratioMedian() * 100, 1e-9);
    }

    @Test
    void aRoundWithoutTheBaselineIsLeftOut() {
        List<AbRunner.Sample> samples = List.of(
                s(0, AbRunner.THROUGHPUT, 32, "SpscRing", 120),
                s(1, AbRunner.THROUGHPUT, 32, "SpscRing", 90), s(1, AbRunner.THROUGHPUT, 32, "JCToolsSpsc", 100));
        RingBenchAb.Summary only = RingBenchAb.summarise(samples, "JCToolsSpsc", "SpscRing").get(0);
        assertEquals(1, only.rounds());
        assertEquals(0.9, only.ratioMedian(), 1e-12);
    }

    @Test
    void medianOfAnEvenCountIsTheMeanOfTheMiddleTwo() {
        assertEquals(2.5, RingBenchAb.median(List.of(4.0, 1.0, 3.0, 2.0)), 1e-12);
        assertEquals(3.0, RingBenchAb.median(List.of(3.0)), 1e-12);
        assertTrue(Double.isNaN(RingBenchAb.median(List.of())));
    }

    @Test
    void orderAlternatesForTwoAndRotatesForMore() {
        assertArrayEquals(new int[] {0, 1}, AbRunner.order(2, 0));
        assertArrayEquals(new int[] {1, 0}, AbRunner.order(2, 1));
        assertArrayEquals(new int[] {1, 0}, AbRunner.order(2, -3));
        assertArrayEquals(new int[] {2, 0, 1}, AbRunner.order(3, 2));
    }

    @Test
    void candidatesMustBeKnownAndDistinct() {
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        assertThrows(IllegalArgumentException.class,
                () -> AbRunner.run(List.of("JCToolsSpsc", "JCToolsSpsc"), 0, 1, 1_000_000, quiet));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> AbRunner.run(List.of("JCToolsSpsc", "NoSuchRing"), 0, 1, 1_000_000, quiet));
        assertTrue(e.getMessage().contains("NoSuchRing"), e.getMessage());
    }

    @Test
    @Timeout(120)
    void aTinyRunMeasuresEveryMetricForBothCandidatesAndWritesItsFiles(@TempDir Path dir) throws Exception {
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        List<RingBenchAb.Summary> out = RingBenchAb.run("JCToolsSpsc", List.of("SpscRing"), 0, 2, 20, dir,
                new PrintStream(log, true, StandardCharsets.UTF_8));
        assertEquals(3, out.size(), log.toString(StandardCharsets.UTF_8));
        for (RingBenchAb.Summary s : out) {
            assertEquals("SpscRing", s.subject());
            // Not the values: on a loaded machine a 20 ms throughput round may move nothing.
            assertTrue(s.rounds() <= 2, s.toString());
        }
        List<String> samples = Files.readAllLines(dir.resolve("ab-samples.csv"));
        assertEquals(RingBenchAb.SAMPLES_HEADER, samples.get(0));
        assertEquals(1 + 2 * 2 * 3, samples.size()); // header, rounds x candidates x metrics
        assertEquals(RingBenchAb.SUMMARY_HEADER, Files.readAllLines(dir.resolve("ab-summary.csv")).get(0));
        List<String> pins = Files.readAllLines(dir.resolve("ab-pinning.txt"));
        assertEquals(2, pins.size());
        assertTrue(pins.get(0).contains("consumer/echo: bound="), pins.get(0));
        assertTrue(pins.get(1).contains("producer/pinger: bound="), pins.get(1));
        assertTrue(Files.readString(dir.resolve("ab-run.json")).contains("\"loadavg_start\""));
        assertTrue(log.toString(StandardCharsets.UTF_8).contains("ratio = subject / JCToolsSpsc"));
    }

    @Test
    void abIsAnOptionOfRingBench() {
        picocli.CommandLine sub = Mqb.commandLine().getSubcommands().get("ring-bench");
        assertTrue(sub.getCommandSpec().findOption("--ab") != null);
        assertEquals("SpscRing", sub.getCommandSpec().findOption("--ab-subject").defaultValue());
        assertEquals(RingBench.BASELINE, sub.getCommandSpec().findOption("--ab-baseline").defaultValue());
    }
}
