package org.mqblock.benchmarks.loop;

import java.util.concurrent.TimeUnit;
import org.mqblock.core.loop.BottomHalf;
import org.mqblock.core.loop.IOThread;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Wake-up round trip: the benchmark thread schedules a preallocated bottom half on an idle
 * IOThread and spins until it has run. With {@code pollMaxNs = 0} the IOThread sleeps between
 * requests, so every op pays an unpark and a futex wakeup; with QEMU's default 32768 ns the
 * adaptive window catches the next request while busy polling. ({@code mqb demo} adds think
 * time between requests, which JMH cannot keep out of the measured time.)
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class WakeupRoundTripBench {

    @Param({"0", "32768"})
    public long pollMaxNs;

    private IOThread io;
    private BottomHalf ping;
    private volatile long pongs;

    @Setup(Level.Trial)
    public void start() {
        io = IOThread.start("bench-io", IOThread.ANY_CPU, pollMaxNs);
        System.out.println("# " + io.info());
        ping = io.context().newBottomHalf("ping", () -> pongs = pongs + 1);
    }

    @TearDown(Level.Trial)
    public void stop() {
        System.out.println("# wakeups " + io.context().wakeupCount() + ", sleeps " + io.context().sleepCount()
                + ", busy-poll hits " + io.context().busyPollHitCount() + ", window " + io.context().pollWindow().ns() + " ns");
        ping.delete();
        io.close();
    }

    @Benchmark
    public long roundTrip() {
        long before = pongs;
        ping.schedule();
        long now;
        while ((now = pongs) == before) {
            Thread.onSpinWait();
        }
        return now;
    }
}
