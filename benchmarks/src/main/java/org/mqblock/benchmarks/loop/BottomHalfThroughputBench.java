package org.mqblock.benchmarks.loop;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.mqblock.core.loop.BottomHalf;
import org.mqblock.core.loop.IOThread;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Cross-thread bottom-half throughput: the benchmark thread schedules {@value #BATCH} bottom halves
 * on an IOThread and waits until all of them ran. Each op is one schedule-to-run.
 *
 * <ul>
 *   <li>{@code oneshot}: {@code ctx.schedule(Runnable)}, one node allocated per call (QEMU's
 *       aio_bh_schedule_oneshot).
 *   <li>{@code reusable}: {@value #BATCH} preallocated {@link BottomHalf}s, each scheduled once per
 *       batch; nothing is allocated.
 * </ul>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
public class BottomHalfThroughputBench {

    static final int BATCH = 256;

    @Param({"oneshot", "reusable"})
    public String kind;

    @Param({"0", "32768"})
    public long pollMaxNs;

    private IOThread io;
    private final AtomicLong ran = new AtomicLong();
    private final Runnable count = ran::incrementAndGet;
    private BottomHalf[] bhs;
    private long target;

    @Setup(Level.Trial)
    public void start() {
        io = IOThread.start("bench-io", IOThread.ANY_CPU, pollMaxNs);
        System.out.println("# " + io.info());
        bhs = new BottomHalf[BATCH];
        for (int i = 0; i < BATCH; i++) {
            bhs[i] = io.context().newBottomHalf("bench-" + i, count);
        }
    }

    @TearDown(Level.Trial)
    public void stop() {
        for (BottomHalf bh : bhs) {
            bh.delete();
        }
        io.close();
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public long scheduleToRun() {
        target += BATCH;
        if (kind.equals("oneshot")) {
            for (int i = 0; i < BATCH; i++) {
                io.context().schedule(count);
            }
        } else {
            for (BottomHalf bh : bhs) {
                bh.schedule();
            }
        }
        long t = target;
        while (ran.get() < t) {
            Thread.onSpinWait();
        }
        return t;
    }
}
