package org.mqblock.experiments;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code mqb ring-bench}: the SPSC ring comparison, see {@link RingBench}; with {@code --ab}, {@link RingBenchAb}. */
@Command(
        name = "ring-bench",
        mixinStandardHelpOptions = true,
        description = {
            "Compare SpscRing with JCTools, Agrona, Disruptor and ArrayBlockingQueue (JMH, -prof gc):",
            "throughput at bursts 1 and 32 and round-trip latency between two threads.",
            "Writes jmh.json, ring.csv, pinning.txt, machine.json and run.json; about 7 min on 2 cores (--quick: about 2 min).",
            "With --ab: one JVM, the subject and JCTools alternated round by round on the same two pinned threads;",
            "prints median and min-max of the per-round ratios and writes ab-*.csv, ab-pinning.txt, ab-run.json",
            "(about 30 s with the defaults)."
        })
final class RingBenchCommand implements Callable<Integer> {

    @Option(names = "--quick", description = "1 fork, 2 x 1 s warmup, 3 x 1 s measurement.")
    boolean quick;

    @Option(names = "--out", paramLabel = "DIR", defaultValue = "results/F7",
            description = "Output directory (default: ${DEFAULT-VALUE}).")
    Path out;

    @Option(names = "--ab", description = "Interleaved A/B in one JVM instead of the JMH run.")
    boolean ab;

    @Option(names = "--ab-subject", paramLabel = "IMPL", split = ",", defaultValue = "SpscRing",
            description = "With --ab: the candidates compared with the baseline, comma-separated (default: ${DEFAULT-VALUE}).")
    List<String> subjects;

    @Option(names = "--ab-baseline", paramLabel = "IMPL", defaultValue = RingBench.BASELINE,
            description = "With --ab: the baseline (default: ${DEFAULT-VALUE}).")
    String baseline;

    @Option(names = "--rounds", paramLabel = "N", defaultValue = "20",
            description = "With --ab: recorded rounds, after 4 warm-up rounds (default: ${DEFAULT-VALUE}).")
    int rounds;

    @Option(names = "--measure-ms", paramLabel = "MS", defaultValue = "200",
            description = "With --ab: milliseconds per measurement, 6 per round (default: ${DEFAULT-VALUE}).")
    long measureMs;

    @Override
    public Integer call() throws Exception {
        if (ab) {
            RingBenchAb.run(baseline, subjects, 4, rounds, measureMs, out, System.out);
        } else {
            RingBench.run(quick, out, System.out);
        }
        return 0;
    }
}
