package org.mqblock.benchmarks.memory;

import java.util.concurrent.TimeUnit;
import org.mqblock.memory.workload.DirtyPages;
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
import org.openjdk.jmh.annotations.Warmup;

/**
 * setDirty throughput for 1..N writer threads, three bitmaps: {@code atomic} (the module's {@code
 * DirtyBitmap}: fence, read, RMW only when the bit is clear), {@code rmw} (always {@code
 * getAndBitwiseOr}) and {@code synchronized} (one lock).
 *
 * <p>Writers only, pages drawn at random from {@code pages}. Once every bit is set (early in
 * warm-up) this measures re-dirtying dirty pages, the common case between two syncs. {@code pages
 * = 64} puts every writer on one bitmap word (one cache line); {@code 262144} is 1 GiB of guest
 * RAM. Run with {@code -t 1}, {@code -t 2}, ...; {@link DirtyBitmapSyncBench} adds a consumer.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms512m", "-Xmx512m"})
@State(Scope.Benchmark)
public class DirtyBitmapBench {

    @Param({"atomic", "rmw", "synchronized"})
    public String impl;

    @Param({"64", "262144"})
    public long pages;

    DirtyPages bitmap;

    @Setup(Level.Trial)
    public void create() {
        bitmap = DirtyBitmaps.create(impl, pages);
    }

    /** Each writer's own page stream (xorshift: no allocation, no shared state). */
    @State(Scope.Thread)
    public static class Writer {
        long x;
        long mask;

        @Setup(Level.Trial)
        public void seed(DirtyBitmapBench b) {
            x = System.nanoTime() | 1;
            mask = b.pages - 1; // pages is a power of two
        }

        long nextPage() {
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            return x & mask;
        }
    }

    @Benchmark
    public void setDirty(Writer w) {
        bitmap.setDirty(w.nextPage());
    }
}
