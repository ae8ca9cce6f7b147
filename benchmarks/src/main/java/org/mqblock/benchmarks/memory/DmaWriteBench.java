package org.mqblock.benchmarks.memory;

import java.util.concurrent.TimeUnit;
import org.mqblock.memory.AddressSpace;
import org.mqblock.memory.DirtyBitmap;
import org.mqblock.memory.DirtyClient;
import org.mqblock.memory.Dma;
import org.mqblock.memory.RamRegion;
import org.mqblock.memory.TargetPage;
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
 * The cost of dirty tracking on a DMA write to RAM: one thread writes {@code size} bytes through
 * a {@link Dma} into a ring of 64 pages (256 KiB, so the data stays in L2 and the numbers show CPU
 * cost, not memory bandwidth), one page per op.
 *
 * <ul>
 *   <li>{@code off}: no dirty client active (one volatile load of the mask).
 *   <li>{@code dirty}: MIGRATION active, pages already dirty: fence, read, no RMW.
 *   <li>{@code clean}: MIGRATION active, every page clean when written: fence, read, RMW. The bits
 *       are taken once per ring cycle (one {@code getAndSet} per 64 writes), as a sync would.
 *   <li>{@code clean2}: {@code clean} with MIGRATION and DISPLAY both active.
 * </ul>
 * Every write also passes the address space's write gate and looks its region up. Run with
 * {@code -prof gc}: {@code gc.alloc.rate.norm} is the bytes allocated per write.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms512m", "-Xmx512m"})
public class DmaWriteBench {

    private static final int RING_PAGES = 64;
    private static final long BASE = 0x4000_0000L;

    @Param({"off", "dirty", "clean", "clean2"})
    public String tracking;

    @Param({"4096", "8"})
    public int size;

    private RamRegion ram;
    private AddressSpace as;
    private Dma dma;
    private byte[] data;
    private long[] snapshot;
    private DirtyBitmap migration;
    private DirtyBitmap display;
    private boolean clean;
    private int next;

    @Setup(Level.Trial)
    public void setUp() {
        ram = new RamRegion("bench-ram", 64L << 20, RamRegion.DEFAULT_CHUNK_BITS, true);
        as = new AddressSpace("bench");
        as.map(BASE, ram);
        dma = Dma.forCpu(as);
        data = new byte[TargetPage.TARGET_PAGE_SIZE];
        snapshot = new long[1];
        migration = ram.dirtyBitmap(DirtyClient.MIGRATION);
        display = ram.dirtyBitmap(DirtyClient.DISPLAY);
        if (!tracking.equals("off")) {
            ram.startDirtyLog(DirtyClient.MIGRATION);
        }
        if (tracking.equals("clean2")) {
            ram.startDirtyLog(DirtyClient.DISPLAY);
        }
        clean = tracking.startsWith("clean");
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        as.unmap(ram);
        ram.close();
    }

    @Benchmark
    public void write() {
        int page = next;
        next = (page + 1) & (RING_PAGES - 1);
        if (clean && page == 0) {
            migration.testAndClearRange(0, RING_PAGES, snapshot);
            display.testAndClearRange(0, RING_PAGES, snapshot);
        }
        long addr = BASE + ((long) page << TargetPage.TARGET_PAGE_BITS);
        if (size == 8) {
            dma.writeU64(addr, page);
        } else {
            dma.write(addr, data, 0, size);
        }
    }
}
