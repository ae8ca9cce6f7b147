package org.mqblock.experiments;

import java.io.IOException;
import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.mqblock.experiments.figures.Column;
import org.mqblock.experiments.figures.Columns;
import org.mqblock.experiments.figures.Table;
import org.openjdk.jmh.profile.GCProfiler;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.results.format.ResultFormatType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import org.openjdk.jmh.runner.format.OutputFormatFactory;
import org.openjdk.jmh.runner.options.VerboseMode;

/**
 * The SPSC ring comparison (figure F7): runs the {@code jmh.ring} benchmarks in one JMH run with
 * the GC profiler, and turns the results into rows with ratios against JCTools' SpscArrayQueue
 * from that same run.
 *
 * <p>Files written to the output directory: {@code jmh.json} (JMH's own JSON), {@code ring.csv}
 * ({@link #COLUMNS}), {@code pinning.txt} (one line per benchmark thread per fork: what
 * Chronicle Affinity granted and the OS mask afterwards), {@code machine.json}, {@code run.json}
 * (mode and the load average before and after).
 *
 * <p>Metrics: {@code throughput} is elements moved from producer to consumer per microsecond
 * (higher is better); {@code round-trip} is nanoseconds per ping-pong (lower is better).
 * {@code ratio_vs_jctools} is this row's value divided by JCTools' value for the same metric and
 * burst, so it is above 1 when a throughput is higher and when a round trip is slower.
 * {@code alloc_bytes_per_op} is bytes allocated by all threads per element moved (throughput) or
 * per round trip.
 */
public final class RingBench {
    /** The implementation every ratio is taken against. */
    public static final String BASELINE = "JCToolsSpsc";
    /** Our ring; the one the printed ratio line is about. */
    public static final String SUBJECT = "SpscRing";

    public static final String THROUGHPUT = "throughput";
    public static final String ROUND_TRIP = "round-trip";

    public static final Column<String> IMPL = Column.text("impl");
    public static final Column<Integer> BURST = Column.integer("burst");
    public static final Column<String> METRIC = Column.text("metric");
    public static final Column<Double> VALUE = Column.real("value");
    public static final Column<Double> ERROR = Column.real("error");
    public static final Column<String> UNIT = Column.text("unit");
    public static final Column<Double> ALLOC = Column.real("alloc_bytes_per_op");
    public static final Column<Double> RATIO = Column.real("ratio_vs_jctools");
    /** ring.csv's columns, and figure F7's. */
    public static final Columns COLUMNS = Columns.of(IMPL, BURST, METRIC, VALUE, ERROR, UNIT, ALLOC, RATIO);

    /** Tells the forks where to record their pinning; the same name as {@code jmh.ring.Pinning.LOG_PROPERTY}. */
    private static final String PIN_LOG_PROPERTY = "mqb.ring.pinlog";

    private static final String INCLUDE = "org\\.mqblock\\.benchmarks\\.ring\\..*";

    /** One measured value. {@code ratioVsJctools} is NaN when the run has no JCTools value to compare with. */
    public record Row(String impl, int burst, String metric, double value, double error, String unit,
            double allocBytesPerOp, double ratioVsJctools) {}

    /** A measured value before ratios are known. */
    record Sample(String impl, int burst, String metric, double value, double error, String unit,
            double allocBytesPerOp) {}

    private RingBench() {}

    /**
     * Runs the benchmarks (JMH forks one JVM per implementation and burst) and writes the files
     * above into {@code outDir}. Quick: 1 fork, 2 x 1 s warmup, 3 x 1 s measurement (about two
     * minutes on 2 cores). Full: 2 forks, 4 x 1 s warmup, 5 x 1 s (about seven minutes).
     *
     * <p>Context: any thread; it must run with the shaded mqb.jar (or the benchmark classes and
     * JMH's generated code) on {@code java.class.path}, which the forked JVMs inherit.
     */
    public static List<Row> run(boolean quick, Path outDir, PrintStream log) throws IOException, RunnerException {
        Objects.requireNonNull(outDir, "outDir");
        checkForkClasspath();
        Files.createDirectories(outDir);
        Path json = outDir.resolve("jmh.json").toAbsolutePath();
        Path pinLog = outDir.resolve("pinning.txt").toAbsolutePath();
        Files.deleteIfExists(pinLog);
        MachineInfo machine = MachineInfo.current();
        Files.writeString(outDir.resolve("machine.json"), machine.toJson() + "\n", StandardCharsets.UTF_8);
        String loadStart = loadAverage();
        log.println("# machine: " + machine.describe());
        log.println("# load average at start: " + loadStart);
        log.println("# ring-bench " + (quick ? "--quick" : "(full)") + " -> " + outDir.toAbsolutePath());

        ChainedOptionsBuilder opts = new OptionsBuilder()
                .include(INCLUDE)
                .addProfiler(GCProfiler.class)
                .resultFormat(ResultFormatType.JSON)
                .result(json.toString())
                .jvmArgsPrepend(ForkFlags.missing().toArray(String[]::new))
                .jvmArgsAppend("-Xms512m", "-Xmx512m", "-D" + PIN_LOG_PROPERTY + "=" + pinLog)
                .timeout(TimeValue.seconds(60))
                .shouldFailOnError(true);
        if (quick) {
            opts.forks(1).warmupIterations(2).warmupTime(TimeValue.seconds(1))
                    .measurementIterations(3).measurementTime(TimeValue.seconds(1));
        }
        Collection<RunResult> results = new Runner(opts.build(),
                OutputFormatFactory.createFormatInstance(log, VerboseMode.NORMAL)).run();

        String loadEnd = loadAverage();
        Files.writeString(outDir.resolve("run.json"), "{\"quick\": " + quick + ", \"loadavg_start\": " + JsonOut.quote(loadStart)
                + ", \"loadavg_end\": " + JsonOut.quote(loadEnd) + "}\n", StandardCharsets.UTF_8);
        List<Row> rows = withRatios(samples(results));
        Files.writeString(outDir.resolve("ring.csv"), csv(rows), StandardCharsets.UTF_8);
        List<String> pins = Files.exists(pinLog) ? Files.readAllLines(pinLog) : List.of();
        log.println();
        log.print(text(rows));
        log.println("pinning: " + pinningSummary(pins));
        log.println("load average at start: " + loadStart + "; at end: " + loadEnd
                + " (other processes on these CPUs disturb every number above)");
        log.println(ratioLine(rows));
        return rows;
    }

    /** /proc/loadavg's first three fields: another job sharing the CPUs shows up here. */
    static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split(" ");
            return f.length >= 3 ? f[0] + " " + f[1] + " " + f[2] : "unknown";
        } catch (IOException | RuntimeException e) {
            return "unknown";
        }
    }

    /**
     * JMH forks {@code java -cp <our java.class.path>}: if the benchmark classes are not on it (an
     * IDE or a test runner with a manifest-only classpath), every fork would die with "Unable to
     * find the resource: /META-INF/BenchmarkList". Refuse early, saying how to run it instead.
     */
    static void checkForkClasspath() {
        String where;
        try {
            where = Path.of(RingBench.class.getProtectionDomain().getCodeSource().getLocation().toURI())
                    .toAbsolutePath().toString();
        } catch (URISyntaxException | RuntimeException e) {
            return; // cannot tell; let JMH try
        }
        String cp = System.getProperty("java.class.path", "");
        for (String entry : cp.split(java.io.File.pathSeparator)) {
            if (!entry.isEmpty() && Path.of(entry).toAbsolutePath().toString().equals(where)) {
                if (RingBench.class.getResource("/META-INF/BenchmarkList") != null) {
                    return;
                }
            }
        }
        throw new IllegalStateException("ring-bench forks JVMs that must find the benchmarks on java.class.path, "
                + "but " + where + " is not on it (or has no META-INF/BenchmarkList); run it as "
                + "'java -jar experiments/target/mqb.jar ring-bench' or './mqb ring-bench'");
    }

    /** Turns JMH's results into samples: the {@code polled} counter for throughput, the score for round trips. */
    static List<Sample> samples(Collection<RunResult> results) {
        List<Sample> out = new ArrayList<>();
        for (RunResult r : results) {
            String bench = r.getParams().getBenchmark();
            String impl = r.getParams().getParam("impl");
            Result<?> primary = r.getPrimaryResult();
            Map<String, Result> secondary = r.getSecondaryResults();
            double norm = score(secondary.get("gc.alloc.rate.norm"));
            if (bench.endsWith(".tpt")) {
                Result<?> polled = secondary.get("polled");
                int burst = Integer.parseInt(r.getParams().getParam("burst"));
                double elements = score(polled);
                out.add(new Sample(impl, burst, THROUGHPUT, elements, error(polled), polled == null ? "ops/us" : polled.getScoreUnit(),
                        allocPerElement(norm, primary.getScore(), elements)));
            } else if (bench.endsWith(".roundTrip")) {
                out.add(new Sample(impl, 1, ROUND_TRIP, primary.getScore(), primary.getScoreError(),
                        primary.getScoreUnit(), norm));
            }
        }
        return out;
    }

    private static double score(Result<?> r) {
        return r == null ? Double.NaN : r.getScore();
    }

    private static double error(Result<?> r) {
        return r == null ? Double.NaN : r.getScoreError();
    }

    /**
     * JMH normalises allocation per invocation of the whole group, and an invocation that finds the
     * channel full or empty moves nothing; so bytes per element = (bytes per invocation x
     * invocations per unit time) / elements per unit time.
     */
    static double allocPerElement(double bytesPerInvocation, double invocationsPerUs, double elementsPerUs) {
        if (!(elementsPerUs > 0)) {
            return Double.NaN;
        }
        return bytesPerInvocation * invocationsPerUs / elementsPerUs;
    }

    /** Adds to each sample its ratio to the baseline's sample with the same metric and burst. */
    static List<Row> withRatios(List<Sample> samples) {
        Map<String, Double> baseline = new LinkedHashMap<>();
        for (Sample s : samples) {
            if (s.impl().equals(BASELINE)) {
                baseline.put(s.metric() + "/" + s.burst(), s.value());
            }
        }
        List<Row> rows = new ArrayList<>(samples.size());
        for (Sample s : samples) {
            Double base = baseline.get(s.metric() + "/" + s.burst());
            double ratio = base == null || !(base > 0) ? Double.NaN : s.value() / base;
            rows.add(new Row(s.impl(), s.burst(), s.metric(), s.value(), s.error(), s.unit(), s.allocBytesPerOp(), ratio));
        }
        return rows;
    }

    /** The rows as a table of {@link #COLUMNS}. */
    public static Table table(List<Row> rows) {
        Table t = new Table(COLUMNS);
        for (Row r : rows) {
            t.row().set(IMPL, r.impl()).set(BURST, r.burst()).set(METRIC, r.metric()).set(VALUE, r.value())
                    .set(ERROR, r.error()).set(UNIT, r.unit()).set(ALLOC, r.allocBytesPerOp())
                    .set(RATIO, r.ratioVsJctools()).add();
        }
        return t;
    }

    /** The CSV file's content: {@link #COLUMNS}, then one line per row; unknown numbers are empty. */
    static String csv(List<Row> rows) {
        return table(rows).csv();
    }

    /** A human-readable table of every row. */
    static String text(List<Row> rows) {
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "%-20s %5s %-11s %12s %10s %-7s %10s %9s%n",
                "impl", "burst", "metric", "value", "error", "unit", "B/op", "vs JCT"));
        for (Row r : rows) {
            b.append(String.format(Locale.ROOT, "%-20s %5d %-11s %12.3f %10.3f %-7s %10.3f %8.2fx%n",
                    r.impl(), r.burst(), r.metric(), r.value(), r.error(), r.unit(), r.allocBytesPerOp(), r.ratioVsJctools()));
        }
        return b.toString();
    }

    /**
     * The one line that says how our ring did against JCTools in this run: throughput ratios at
     * burst 1 and 32 (higher is better), the round-trip ratio (lower is better), and the largest
     * allocation per op among our ring's rows.
     */
    static String ratioLine(List<Row> rows) {
        double tpt1 = Double.NaN;
        double tpt32 = Double.NaN;
        double rtt = Double.NaN;
        double alloc = Double.NaN;
        for (Row r : rows) {
            if (!r.impl().equals(SUBJECT)) {
                continue;
            }
            if (r.metric().equals(THROUGHPUT) && r.burst() == 1) {
                tpt1 = r.ratioVsJctools();
            } else if (r.metric().equals(THROUGHPUT) && r.burst() == 32) {
                tpt32 = r.ratioVsJctools();
            } else if (r.metric().equals(ROUND_TRIP)) {
                rtt = r.ratioVsJctools();
            }
            if (Double.isFinite(r.allocBytesPerOp()) && !(r.allocBytesPerOp() <= alloc)) {
                alloc = r.allocBytesPerOp();
            }
        }
        return String.format(Locale.ROOT,
                "%s / JCTools SpscArrayQueue (same run): throughput burst 1 %s, burst 32 %s (higher is better); "
                        + "round-trip %s (lower is better); max alloc %s B/op",
                SUBJECT, ratio(tpt1), ratio(tpt32), ratio(rtt),
                Double.isFinite(alloc) ? String.format(Locale.ROOT, "%.3f", alloc) : "n/a");
    }

    private static String ratio(double r) {
        return Double.isFinite(r) ? String.format(Locale.ROOT, "%.2fx", r) : "n/a";
    }

    /** Counts each role's distinct pinning outcomes, e.g. "consumer bound=true cpu=1 x14". */
    static String pinningSummary(List<String> lines) {
        if (lines.isEmpty()) {
            return "not recorded";
        }
        Map<String, Integer> counts = new LinkedHashMap<>();
        for (String line : lines) {
            // "<Bench> impl=<impl> burst=<n> <role>: <outcome>": keep "<role>: <outcome>".
            String[] parts = line.split(" ", 4);
            String key = parts.length == 4 ? parts[3] : line;
            counts.merge(key, 1, Integer::sum);
        }
        StringBuilder b = new StringBuilder();
        counts.forEach((k, n) -> b.append(b.length() == 0 ? "" : "; ").append(k).append(" x").append(n));
        return b.toString();
    }
}
