package org.mqblock.experiments;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.mqblock.benchmarks.ring.AbRunner;

/**
 * {@code mqb ring-bench --ab}: the interleaved A/B of {@link AbRunner} (one JVM, both candidates on
 * the same two pinned threads, alternating within each round), summarised as per-round ratios of
 * the subject to the baseline: their median and their min-max over the rounds.
 *
 * <p>Files written to the output directory, beside {@link RingBench}'s: {@code ab-samples.csv}
 * ({@link #SAMPLES_HEADER}: every recorded measurement), {@code ab-summary.csv}
 * ({@link #SUMMARY_HEADER}), {@code ab-pinning.txt} (one line per worker thread) and
 * {@code ab-run.json} (machine, candidates, rounds, load average before and after).
 *
 * <p>Ratios are subject / baseline of the same round: above 1 means a higher throughput and a slower
 * round trip.
 */
public final class RingBenchAb {
    public static final String SAMPLES_HEADER =
            "round,metric,burst,impl,value,unit,alloc_bytes_per_op,empty_polls_per_op,full_offers_per_op";
    public static final String SUMMARY_HEADER = "subject,metric,burst,unit,baseline_median,subject_median,"
            + "ratio_median,ratio_min,ratio_max,rounds,subject_max_alloc_bytes_per_op";

    /** One metric's outcome over all rounds. */
    public record Summary(String subject, String metric, int burst, double baselineMedian, double subjectMedian,
            double ratioMedian, double ratioMin, double ratioMax, int rounds, double subjectMaxAlloc) {
        String unit() {
            return unitOf(metric);
        }
    }

    private RingBenchAb() {}

    /**
     * Runs the A/B and writes the files above into {@code outDir}; returns the summaries.
     *
     * <p>Context: any thread.
     */
    public static List<Summary> run(String baseline, List<String> subjects, int warmupRounds, int rounds, long measureMs,
            Path outDir, PrintStream log) throws IOException, InterruptedException {
        Objects.requireNonNull(outDir, "outDir");
        Files.createDirectories(outDir);
        MachineInfo machine = MachineInfo.current();
        String loadStart = RingBench.loadAverage();
        log.println("# machine: " + machine.describe());
        log.println("# load average at start: " + loadStart);
        String subject = String.join(",", subjects);
        log.println(String.format(Locale.ROOT, "# ring-bench --ab: %s vs %s (baseline), %d warm-up + %d rounds,"
                + " %d ms per measurement -> %s", subject, baseline, warmupRounds, rounds, measureMs, outDir.toAbsolutePath()));
        List<String> candidates = new ArrayList<>();
        candidates.add(baseline);
        candidates.addAll(subjects);
        AbRunner.Result result = AbRunner.run(candidates, warmupRounds, rounds, measureMs * 1_000_000L, log);
        String loadEnd = RingBench.loadAverage();

        List<Summary> summaries = new ArrayList<>();
        for (String s : subjects) {
            summaries.addAll(summarise(result.samples(), baseline, s));
        }
        Files.writeString(outDir.resolve("ab-samples.csv"), samplesCsv(result.samples()), StandardCharsets.UTF_8);
        Files.writeString(outDir.resolve("ab-summary.csv"), summaryCsv(summaries), StandardCharsets.UTF_8);
        Files.write(outDir.resolve("ab-pinning.txt"), result.pinning(), StandardCharsets.UTF_8);
        Files.writeString(outDir.resolve("ab-run.json"), "{\"machine\": " + machine.toJson()
                + ", \"baseline\": " + JsonOut.quote(baseline) + ", \"subjects\": " + JsonOut.quote(subject)
                + ", \"warmup_rounds\": " + warmupRounds + ", \"rounds\": " + rounds + ", \"measure_ms\": " + measureMs
                + ", \"loadavg_start\": " + JsonOut.quote(loadStart) + ", \"loadavg_end\": " + JsonOut.quote(loadEnd)
                + "}\n", StandardCharsets.UTF_8);

        log.println();
        log.print(table(summaries, baseline));
        log.println("pinning: " + String.join("; ", result.pinning()));
        log.println("load average at start: " + loadStart + "; at end: " + loadEnd
                + " (other processes on these CPUs disturb every number above)");
        return summaries;
    }

    /** One summary per (metric, burst), in the order first seen; ratios pair the two candidates by round. */
    static List<Summary> summarise(List<AbRunner.Sample> samples, String baseline, String subject) {
        Map<String, Map<Integer, double[]>> byKey = new LinkedHashMap<>();
        Map<String, Double> maxAlloc = new LinkedHashMap<>();
        for (AbRunner.Sample s : samples) {
            String key = s.metric() + "/" + s.burst();
            int which = s.impl().equals(baseline) ? 0 : s.impl().equals(subject) ? 1 : -1;
            if (which < 0) {
                continue;
            }
            byKey.computeIfAbsent(key, k -> new LinkedHashMap<>())
                    .computeIfAbsent(s.round(), r -> new double[] {Double.NaN, Double.NaN})[which] = s.value();
            if (which == 1 && Double.isFinite(s.allocBytesPerOp())) {
                maxAlloc.merge(key, s.allocBytesPerOp(), Math::max);
            }
        }
        List<Summary> out = new ArrayList<>();
        for (Map.Entry<String, Map<Integer, double[]>> e : byKey.entrySet()) {
            String[] k = e.getKey().split("/");
            List<Double> base = new ArrayList<>();
            List<Double> subj = new ArrayList<>();
            List<Double> ratios = new ArrayList<>();
            for (double[] pair : e.getValue().values()) {
                if (Double.isFinite(pair[0]) && Double.isFinite(pair[1]) && pair[0] > 0) {
                    base.add(pair[0]);
                    subj.add(pair[1]);
                    ratios.add(pair[1] / pair[0]);
                }
            }
            double[] r = ratios.stream().mapToDouble(Double::doubleValue).sorted().toArray();
            out.add(new Summary(subject, k[0], Integer.parseInt(k[1]), median(base), median(subj), median(ratios),
                    r.length == 0 ? Double.NaN : r[0], r.length == 0 ? Double.NaN : r[r.length - 1], r.length,
                    maxAlloc.getOrDefault(e.getKey(), Double.NaN)));
        }
        return out;
    }

    /** The median (mean of the middle two for an even count); NaN for none. */
    static double median(List<Double> values) {
        double[] v = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        if (v.length == 0) {
            return Double.NaN;
        }
        int mid = v.length / 2;
        return v.length % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
    }

    static String unitOf(String metric) {
        return metric.equals(AbRunner.ROUND_TRIP) ? "ns/op" : "ops/us";
    }

    static String samplesCsv(List<AbRunner.Sample> samples) {
        StringBuilder b = new StringBuilder(SAMPLES_HEADER).append('\n');
        for (AbRunner.Sample s : samples) {
            b.append(s.round()).append(',').append(s.metric()).append(',').append(s.burst()).append(',')
                    .append(s.impl()).append(',').append(num(s.value())).append(',').append(unitOf(s.metric()))
                    .append(',').append(num(s.allocBytesPerOp())).append(',').append(num(s.emptyPerOp()))
                    .append(',').append(num(s.fullPerOp())).append('\n');
        }
        return b.toString();
    }

    static String summaryCsv(List<Summary> summaries) {
        StringBuilder b = new StringBuilder(SUMMARY_HEADER).append('\n');
        for (Summary s : summaries) {
            b.append(String.join(",", Arrays.asList(s.subject(), s.metric(), Integer.toString(s.burst()), s.unit(),
                    num(s.baselineMedian()), num(s.subjectMedian()), num(s.ratioMedian()), num(s.ratioMin()),
                    num(s.ratioMax()), Integer.toString(s.rounds()), num(s.subjectMaxAlloc())))).append('\n');
        }
        return b.toString();
    }

    static String table(List<Summary> summaries, String baseline) {
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "%-16s %-11s %5s %-7s %12s %12s %9s %15s %6s %7s%n",
                "subject", "metric", "burst", "unit", baseline, "subject", "ratio", "ratio min-max", "rounds", "B/op"));
        for (Summary s : summaries) {
            b.append(String.format(Locale.ROOT, "%-16s %-11s %5d %-7s %12.2f %12.2f %8.3fx %7.3f-%-7.3f %6d %7.3f%n",
                    s.subject(), s.metric(), s.burst(), s.unit(), s.baselineMedian(), s.subjectMedian(), s.ratioMedian(),
                    s.ratioMin(), s.ratioMax(), s.rounds(), s.subjectMaxAlloc()));
        }
        b.append("ratio = subject / ").append(baseline)
                .append(" within each round: higher is better for throughput, lower for round-trip\n");
        return b.toString();
    }

    private static String num(double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%.4f", v) : "";
    }
}
