package org.mqblock.benchmarks.memory;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.mqblock.memory.workload.DirtyPages;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Group;
import org.openjdk.jmh.annotations.GroupThreads;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * setDirty throughput while a consumer takes the bitmap, as migration's sync does: a group of
 * writers ({@code -tg N,1}) and one syncer that takes the whole bitmap with {@code
 * testAndClearRange} and then sleeps {@code syncIntervalUs} (0: back to back, a worst case in
 * which writers keep finding their bits clear; 1000: a sync every millisecond, still far more
 * often than a migration round). The writer's score is the one to compare; the syncer's is sweeps
 * per microsecond.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms512m", "-Xmx512m"})
@State(Scope.Group)
public class DirtyBitmapSyncBench {

    @Param({"atomic", "rmw", "synchronized"})
    public String impl;

    @Param({"64", "262144"})
    public long pages;

    @Param({"0", "1000"})
    public long syncIntervalUs;

    DirtyPages bitmap;

    @Setup(Level.Trial)
    public void create() {
        bitmap = DirtyBitmaps.create(impl, pages);
    }

    @State(Scope.Thread)
    public static class Writer {
        long x;
        long mask;

        @Setup(Level.Trial)
        public void seed(DirtyBitmapSyncBench b) {
            x = System.nanoTime() | 1;
            mask = b.pages - 1;
        }

        long nextPage() {
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            return x & mask;
        }
    }

    @State(Scope.Thread)
    public static class Syncer {
        long[] snapshot;

        @Setup(Level.Trial)
        public void allocate(DirtyBitmapSyncBench b) {
            snapshot = new long[(int) ((b.pages + 63) >>> 6)];
        }
    }

    @Benchmark
    @Group("migrating")
    @GroupThreads(1)
    public void writer(Writer w) {
        bitmap.setDirty(w.nextPage());
    }

    @Benchmark
    @Group("migrating")
    @GroupThreads(1)
    public long syncer(Syncer s) {
        long n = bitmap.testAndClearRange(0, pages, s.snapshot);
        if (syncIntervalUs > 0) {
            LockSupport.parkNanos(syncIntervalUs * 1000);
        }
        return n;
    }
}
