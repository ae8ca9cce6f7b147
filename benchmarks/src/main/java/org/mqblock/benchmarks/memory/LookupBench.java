package org.mqblock.benchmarks.memory;

import java.util.concurrent.TimeUnit;
import org.mqblock.memory.AddressSpace;
import org.mqblock.memory.Dma;
import org.mqblock.memory.RamRegion;
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
 * What the Dma's last-hit hint is worth: an 8-byte RAM read through a {@link Dma} in an address
 * space of {@code regions} RAM regions, with the hint ({@link #hint}) and without it ({@link
 * #noHint}, the binary search alone). {@code same}: each read lands in the region of the previous
 * one (a device working through one buffer); {@code random}: a random region each time (the hint
 * misses and costs an extra comparison).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class LookupBench {

    private static final long REGION = 1L << 20;

    @Param({"1", "64"})
    public int regions;

    @Param({"same", "random"})
    public String pattern;

    private AddressSpace as;
    private RamRegion[] rams;
    private Dma dma;
    private long[] addrs;
    private int next;

    @Setup(Level.Trial)
    public void setUp() {
        as = new AddressSpace("bench");
        rams = new RamRegion[regions];
        for (int i = 0; i < regions; i++) {
            rams[i] = new RamRegion("r" + i, REGION);
            as.map(2 * REGION * i, rams[i]); // gaps between regions
        }
        dma = Dma.forCpu(as);
        addrs = new long[1024];
        long x = 0x9e3779b97f4a7c15L;
        for (int k = 0; k < addrs.length; k++) {
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            int r = pattern.equals("same") ? regions / 2 : (int) Math.floorMod(x, (long) regions);
            addrs[k] = 2 * REGION * r + (Math.floorMod(x >>> 20, REGION - 8) & ~7L);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        for (RamRegion r : rams) {
            as.unmap(r);
            r.close();
        }
    }

    private long read() {
        long a = addrs[next];
        next = (next + 1) & (addrs.length - 1);
        return dma.readU64(a);
    }

    @Benchmark
    @Fork(1)
    public long hint() {
        return read();
    }

    @Benchmark
    @Fork(value = 1, jvmArgsAppend = "-Dmqblock.memory.noLookupHint=true")
    public long noHint() {
        return read();
    }
}
