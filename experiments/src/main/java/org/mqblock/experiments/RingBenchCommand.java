package org.mqblock.experiments;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code mqb ring-bench}: the SPSC ring comparison, see {@link RingBench}. */
@Command(
        name = "ring-bench",
        mixinStandardHelpOptions = true,
        description = {
            "Compare SpscRing with JCTools, Agrona, Disruptor and ArrayBlockingQueue (JMH, -prof gc):",
            "throughput at bursts 1 and 32 and round-trip latency between two threads.",
            "Writes jmh.json, ring.csv, pinning.txt, machine.json and run.json; about 7 min on 2 cores (--quick: about 2 min)."
        })
final class RingBenchCommand implements Callable<Integer> {

    @Option(names = "--quick", description = "1 fork, 2 x 1 s warmup, 3 x 1 s measurement.")
    boolean quick;

    @Option(names = "--out", paramLabel = "DIR", defaultValue = "results/F7",
            description = "Output directory (default: ${DEFAULT-VALUE}).")
    Path out;

    @Override
    public Integer call() throws Exception {
        RingBench.run(quick, out, System.out);
        return 0;
    }
}
