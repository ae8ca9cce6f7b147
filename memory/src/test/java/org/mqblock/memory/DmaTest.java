package org.mqblock.memory;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mqblock.memory.TargetPage.TARGET_PAGE_SIZE;

import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ReadOnlyBufferException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.mqblock.core.loop.AioContext;

/**
 * Dma on one thread: RAM and MMIO accesses, mapping, dirty marking through every write path; for
 * private RAM and for shared RAM alike.
 */
class DmaTest {

    private static final long RAM_BASE = 0x10_0000;
    private static final long MMIO_BASE = 0x1000;

    /** Registers: records accesses; reads return a fixed pattern. */
    static final class Registers implements MmioOps {
        final List<String> log = new ArrayList<>();

        @Override
        public long read(long offset, int size) {
            log.add("r" + size + "@" + offset);
            return 0x1122_3344_5566_7788L;
        }

        @Override
        public void write(long offset, long value, int size) {
            log.add("w" + size + "@" + offset + "=" + Long.toHexString(value));
        }
    }

    private AioContext ctx;
    private RamKind.Factory regions;
    private RamRegion ram;
    private AddressSpace as;
    private Registers regs;

    private void setUp(RamKind kind) {
        ctx = new AioContext("dev");
        regions = new RamKind.Factory(kind);
        ram = regions.create("ram", 64 * TARGET_PAGE_SIZE, 15); // 32 KiB chunks
        as = new AddressSpace("sys");
        as.map(RAM_BASE, ram);
        regs = new Registers();
        as.map(MMIO_BASE, new MmioRegion("regs", 0x100, ctx, new ReentrancyGuard("dev"), regs));
    }

    @AfterEach
    void tearDown() throws Exception {
        if (ram != null) {
            as.unmap(ram);
            ram.close();
            ctx.close();
            regions.close();
        }
    }

    @ParameterizedTest
    @EnumSource(RamKind.class)
    void scalarAndBulkAccessesReachRamAtTheRightOffset(RamKind kind) {
        setUp(kind);
        Dma dma = Dma.forCpu(as);
        dma.writeU8(RAM_BASE + 1, 0x1ff);
        dma.writeU16(RAM_BASE + 2, 0xabcd);
        dma.writeU32(RAM_BASE + 4, 0xdeadbeef);
        dma.writeU64(RAM_BASE + 8, -2L);
        assertEquals(0xff, ram.getU8(1));
        assertEquals(0xabcd, dma.readU16(RAM_BASE + 2));
        assertEquals(0xdeadbeef, dma.readU32(RAM_BASE + 4));
        assertEquals(-2L, dma.readU64(RAM_BASE + 8));
        assertEquals(0xff, dma.readU8(RAM_BASE + 1));

        byte[] src = new byte[3 * TARGET_PAGE_SIZE];
        for (int i = 0; i < src.length; i++) {
            src[i] = (byte) (i * 31);
        }
        dma.write(RAM_BASE + 0x7000, src, 0, src.length); // crosses the 32 KiB chunk boundary
        byte[] back = new byte[src.length];
        dma.read(RAM_BASE + 0x7000, back, 0, back.length);
        assertArrayEquals(src, back);
        ByteBuffer bb = ByteBuffer.allocateDirect(64);
        dma.read(RAM_BASE + 0x7000, bb, 0, 64);
        dma.write(RAM_BASE + 0x20000, bb, 0, 64);
        assertEquals(dma.readU64(RAM_BASE + 0x7008), ram.getU64(0x20008));
    }

    @Test
    void mmioAccessesCallTheHandlerOnceWithALittleEndianValue() {
        setUp(RamKind.PRIVATE);
        Dma dma = Dma.forCpu(as);
        dma.writeU16(MMIO_BASE + 4, 0x1_beef);
        dma.write(MMIO_BASE + 8, new byte[] {1, 2, 3, 4}, 0, 4);
        assertEquals(0x7788, dma.readU16(MMIO_BASE + 0x10), "a read is masked to its size");
        assertEquals(0x5566_7788, dma.readU32(MMIO_BASE + 0x10));
        byte[] b = new byte[2];
        dma.read(MMIO_BASE, b, 0, 2);
        assertArrayEquals(new byte[] {(byte) 0x88, 0x77}, b);
        assertEquals(List.of("w2@4=beef", "w4@8=4030201", "r2@16", "r4@16", "r2@0"), regs.log);
        assertEquals(5, dma.mmioDispatchCount());
        assertEquals(5, dma.crossContextDispatchCount(), "the vCPU held no context");
        assertFalse(ctx.isHeldByCurrentThread(), "the owner was released after each access");

        MemoryAccessException odd = assertThrows(MemoryAccessException.class,
                () -> dma.write(MMIO_BASE, new byte[3], 0, 3));
        assertEquals(MemoryAccessException.Kind.BAD_MMIO_SIZE, odd.kind());
        assertEquals("address space 'sys': MMIO write 0x1000+3 to region 'regs': MMIO accesses are 1, 2, 4 or 8 bytes",
                odd.getMessage());
        assertEquals(5, regs.log.size(), "the refused access reached no handler");
    }

    @Test
    void aDeviceAccessingRegistersOfItsOwnContextDispatchesDirectly() {
        setUp(RamKind.PRIVATE);
        ReentrancyGuard other = new ReentrancyGuard("other-dev");
        Dma dma = new Dma(as, ctx, other, DispatchPolicy.RELEASE_REACQUIRE);
        ctx.acquire();
        try {
            dma.writeU32(MMIO_BASE, 1);
            assertTrue(ctx.isHeldByCurrentThread());
        } finally {
            ctx.release();
        }
        assertEquals(1, dma.mmioDispatchCount());
        assertEquals(0, dma.crossContextDispatchCount());
    }

    @ParameterizedTest
    @EnumSource(RamKind.class)
    void everyWritePathMarksDirtyPagesInTheActiveBitmaps(RamKind kind) {
        setUp(kind);
        Dma dma = Dma.forCpu(as);
        ram.startDirtyLog(DirtyClient.MIGRATION);
        DirtyBitmap mig = ram.dirtyBitmap(DirtyClient.MIGRATION);
        dma.writeU8(RAM_BASE, 1);
        dma.writeU16(RAM_BASE + 2 * TARGET_PAGE_SIZE - 1, 1); // pages 1 and 2
        dma.writeU32(RAM_BASE + 5 * TARGET_PAGE_SIZE, 1);
        dma.writeU64(RAM_BASE + 7 * TARGET_PAGE_SIZE - 8, 1);
        dma.write(RAM_BASE + 9 * TARGET_PAGE_SIZE, new byte[TARGET_PAGE_SIZE + 1], 0, TARGET_PAGE_SIZE + 1);
        dma.write(RAM_BASE + 20 * TARGET_PAGE_SIZE, ByteBuffer.allocate(8), 0, 8);
        long[] snap = new long[1];
        mig.testAndClearRange(0, 64, snap);
        assertEquals((1L) | (1L << 1) | (1L << 2) | (1L << 5) | (1L << 6) | (1L << 9) | (1L << 10) | (1L << 20), snap[0]);
        dma.readU64(RAM_BASE + 30 * TARGET_PAGE_SIZE);
        assertEquals(0, mig.count(), "reads mark nothing");
        ram.stopDirtyLog(DirtyClient.MIGRATION);
    }

    @ParameterizedTest
    @EnumSource(RamKind.class)
    void mappingGivesZeroCopyAccessAndUnmapMarksWhatWasWritten(RamKind kind) {
        setUp(kind);
        Dma dma = Dma.forCpu(as);
        ram.startDirtyLog(DirtyClient.DISPLAY);
        DmaMapping m = new DmaMapping();
        long addr = RAM_BASE + 0x7800; // 2 KiB before the end of the first 32 KiB chunk
        int n = dma.map(addr, 0x3000, true, m);
        assertEquals(0x800, n, "a mapping stops where the chunk ends (QEMU's plen)");
        assertEquals(addr, m.guestAddress());
        m.buffer().putLong(0, 0x0102030405060708L);
        m.byteBuffer().put(16, (byte) 0x5a);
        assertEquals(0x0102030405060708L, ram.getU64(0x7800), "the view is guest memory itself");
        assertEquals(0x5a, ram.getU8(0x7810));
        DirtyBitmap vga = ram.dirtyBitmap(DirtyClient.DISPLAY);
        assertEquals(0, vga.count(), "mapped writes are not seen until unmap");
        assertEquals(1, as.writeGate().mappingsOf(Thread.currentThread()), "a writable mapping is inside the gate");
        dma.unmap(m, 17);
        assertEquals(0, as.writeGate().mappingsOf(Thread.currentThread()));
        assertEquals(1, vga.count());
        assertTrue(vga.getDirty(7));
        assertFalse(m.isMapped());
        assertThrows(IllegalStateException.class, m::buffer);
        assertThrows(IllegalStateException.class, () -> dma.unmap(m, 0));

        assertEquals(0x2000, dma.map(RAM_BASE + 0x8000, 0x2000, false, m), "reusable; read mapping");
        assertEquals(0, ram.getU8(0x8000) - m.buffer().getByte(0));
        ByteBuffer ro = m.byteBuffer();
        assertThrows(ReadOnlyBufferException.class, () -> ro.put(0, (byte) 1));
        assertThrows(IllegalStateException.class, () -> dma.map(RAM_BASE, 8, false, m), "still mapped");
        assertThrows(IllegalArgumentException.class, () -> dma.unmap(m, 0x2001));
        dma.unmap(m, 0x2000);
        assertEquals(1, vga.count(), "a read mapping marks nothing");
        ram.stopDirtyLog(DirtyClient.DISPLAY);
    }

    @ParameterizedTest
    @EnumSource(RamKind.class)
    void mmioCannotBeMapped(RamKind kind) {
        setUp(kind);
        Dma dma = Dma.forCpu(as);
        DmaMapping m = new DmaMapping();
        MemoryAccessException e = assertThrows(MemoryAccessException.class, () -> dma.map(MMIO_BASE, 4, true, m));
        assertEquals(MemoryAccessException.Kind.NOT_MAPPABLE, e.kind());
        assertTrue(e.getMessage().contains("region 'regs' [0x1000, 0x1100) is MMIO"), e.getMessage());
        assertFalse(m.isMapped());
        assertThrows(MemoryAccessException.class, () -> dma.map(RAM_BASE + 64 * TARGET_PAGE_SIZE - 8, 16, false, m));
        as.writeGate().pause(java.time.Duration.ofSeconds(5)); // a failed writable map left nothing inside
        as.writeGate().resume();
    }

    /**
     * The hot path allocates nothing: after warm-up, 200k RAM writes and reads (scalar and 4 KiB
     * bulk, with dirty logging on) allocate no bytes on this thread.
     */
    @ParameterizedTest
    @EnumSource(RamKind.class)
    void ramAccessesAllocateNothingPerAccess(RamKind kind) {
        setUp(kind);
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        Dma dma = Dma.forCpu(as);
        ram.startDirtyLog(DirtyClient.MIGRATION);
        byte[] page = new byte[TARGET_PAGE_SIZE];
        long sum = 0;
        for (int round = 0; round < 2; round++) {
            long before = mx.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < 100_000; i++) {
                long a = RAM_BASE + ((i * 4096L) & 0x3ffff);
                dma.write(a, page, 0, page.length);
                dma.writeU32(a + 8, i);
                sum += dma.readU64(a);
                if ((i & 63) == 0) {
                    ram.dirtyBitmap(DirtyClient.MIGRATION).testAndClear((a - RAM_BASE) >>> 12);
                }
            }
            long allocated = mx.getCurrentThreadAllocatedBytes() - before;
            if (round == 1) {
                assertEquals(0, allocated, "bytes allocated by 100k iterations after warm-up");
            }
        }
        assertEquals(0, sum);
        ram.stopDirtyLog(DirtyClient.MIGRATION);
    }
}
