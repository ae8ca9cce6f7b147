package org.mqblock.memory;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mqblock.memory.TargetPage.TARGET_PAGE_SIZE;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * RAM over memory another process shares, with a file mapped twice standing in for the memfd
 * (see {@link SharedFile}): what one side writes the other reads, dirty marking as for private
 * RAM, and the lifetime rule: the memory is handed back to its owner once, only when nothing
 * uses the region any more.
 */
class SharedRamRegionTest {

    private static final long BASE = 0x4000_0000L;

    private final List<AutoCloseable> toClose = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (int i = toClose.size() - 1; i >= 0; i--) {
            toClose.get(i).close();
        }
    }

    private SharedFile file(long size) {
        SharedFile f = new SharedFile(size);
        toClose.add(f);
        return f;
    }

    @Test
    void writesThroughDmaAreSeenThroughTheOtherMappingAndViceVersa() throws Exception {
        SharedFile f = file(16 * TARGET_PAGE_SIZE);
        RamRegion ram = f.region("shared", 13); // two pages a chunk: mappings stop at 8 KiB boundaries
        AddressSpace as = new AddressSpace("sys");
        as.map(BASE, ram);
        Dma dma = Dma.forCpu(as);

        dma.writeU64(BASE + 8, 0x0102030405060708L);
        dma.writeU32(BASE + 2 * TARGET_PAGE_SIZE - 2, 0xcafebabe); // straddles a chunk boundary
        assertEquals(0x0102030405060708L, f.theirs.getLong(8), "little-endian, at the same offset");
        assertEquals(0xcafebabe, f.theirs.getInt(2 * TARGET_PAGE_SIZE - 2));
        byte[] src = new byte[3 * TARGET_PAGE_SIZE + 5];
        new SplittableRandom(5).nextBytes(src);
        dma.write(BASE + 5 * TARGET_PAGE_SIZE - 3, src, 0, src.length);
        byte[] seen = new byte[src.length];
        f.theirs.get(5 * TARGET_PAGE_SIZE - 3, seen);
        assertArrayEquals(src, seen);

        f.theirs.putLong(12 * TARGET_PAGE_SIZE, -5L); // the other process writes
        f.theirs.put(12 * TARGET_PAGE_SIZE + 100, (byte) 0x7f);
        assertEquals(-5L, dma.readU64(BASE + 12 * TARGET_PAGE_SIZE));
        assertEquals(0x7f, ram.getU8(12 * TARGET_PAGE_SIZE + 100));
        byte[] back = new byte[16];
        dma.read(BASE + 12 * TARGET_PAGE_SIZE, back, 0, back.length);
        assertEquals(-5L, ByteBuffer.wrap(back).order(ByteOrder.LITTLE_ENDIAN).getLong(0));

        DmaMapping m = new DmaMapping();
        assertEquals(TARGET_PAGE_SIZE, dma.map(BASE + 9 * TARGET_PAGE_SIZE, 0x3000, true, m),
                "a mapping stops at the chunk end, as for private RAM");
        m.buffer().putLong(16, 0x1111L);
        m.byteBuffer().put(24, (byte) 0x22);
        m.chunkBuffer().put(m.chunkIndex() + 32, (byte) 0x33);
        assertEquals(0x1111L, f.theirs.getLong(9 * TARGET_PAGE_SIZE + 16), "the view is the shared memory itself");
        assertEquals(0x22, f.theirs.get(9 * TARGET_PAGE_SIZE + 24));
        assertEquals(0x33, f.theirs.get(9 * TARGET_PAGE_SIZE + 32));
        f.theirs.putLong(9 * TARGET_PAGE_SIZE + 40, 0x4444L);
        assertEquals(0x4444L, m.buffer().getLong(40));
        dma.unmap(m, 48);

        // Channel I/O straight into and out of shared guest memory, through a mapping's buffer.
        java.nio.file.Path tmp = Files.createTempFile("mqblock-shared-io", ".bin");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(src, 0, 64), 0);
            dma.map(BASE + 14 * TARGET_PAGE_SIZE, 64, true, m);
            assertEquals(64, ch.read(m.byteBuffer(), 0));
            dma.unmap(m, 64);
            byte[] got = new byte[64];
            f.theirs.get(14 * TARGET_PAGE_SIZE, got);
            assertArrayEquals(java.util.Arrays.copyOf(src, 64), got);
        } finally {
            Files.deleteIfExists(tmp);
        }
        as.unmap(ram);
        ram.close();
    }

    /**
     * Every write path marks the same pages as it does in private RAM, for each active client;
     * what the other process writes marks nothing (it logs its own writes).
     */
    @Test
    void dirtyPagesAreMarkedForEachActiveClientExactlyAsInPrivateRam() throws Exception {
        SharedFile f = file(64 * TARGET_PAGE_SIZE);
        RamRegion shared = f.region("shared", 15);
        try (RamRegion priv = new RamRegion("private", 64 * TARGET_PAGE_SIZE, 15, false)) {
            long[][] snaps = new long[2][];
            int k = 0;
            for (RamRegion ram : new RamRegion[] {priv, shared}) {
                AddressSpace as = new AddressSpace("sys-" + ram.name());
                as.map(BASE, ram);
                Dma dma = Dma.forCpu(as);
                ram.startDirtyLog(DirtyClient.MIGRATION);
                dma.writeU8(BASE, 1);
                ram.startDirtyLog(DirtyClient.DISPLAY);
                dma.writeU16(BASE + 2 * TARGET_PAGE_SIZE - 1, 1); // pages 1 and 2
                dma.writeU32(BASE + 5 * TARGET_PAGE_SIZE, 1);
                dma.writeU64(BASE + 7 * TARGET_PAGE_SIZE - 8, 1);
                dma.writeU64(BASE + 8 * TARGET_PAGE_SIZE - 4, 1); // pages 7 and 8, across a chunk boundary
                dma.write(BASE + 9 * TARGET_PAGE_SIZE, new byte[TARGET_PAGE_SIZE + 1], 0, TARGET_PAGE_SIZE + 1);
                dma.write(BASE + 20 * TARGET_PAGE_SIZE, ByteBuffer.allocate(8), 0, 8);
                DmaMapping m = new DmaMapping();
                dma.map(BASE + 30 * TARGET_PAGE_SIZE + 8, 64, true, m);
                dma.unmap(m, 64);
                ram.setMemory(40L * TARGET_PAGE_SIZE, 3 * TARGET_PAGE_SIZE, (byte) 9);
                if (ram == shared) {
                    f.theirs.putLong(50 * TARGET_PAGE_SIZE, 1); // the other process's write
                }
                long[] mig = new long[1];
                long[] vga = new long[1];
                ram.dirtyBitmap(DirtyClient.MIGRATION).testAndClearRange(0, 64, mig);
                ram.dirtyBitmap(DirtyClient.DISPLAY).testAndClearRange(0, 64, vga);
                assertEquals(mig[0] & ~1L, vga[0], ram.name() + ": DISPLAY started after the first write");
                snaps[k++] = new long[] {mig[0], vga[0]};
                ram.stopDirtyLog(DirtyClient.MIGRATION);
                ram.stopDirtyLog(DirtyClient.DISPLAY);
                as.unmap(ram);
            }
            long want = 1L | 1L << 1 | 1L << 2 | 1L << 5 | 1L << 6 | 1L << 7 | 1L << 8 | 1L << 9 | 1L << 10
                    | 1L << 20 | 1L << 30 | 1L << 40 | 1L << 41 | 1L << 42;
            assertEquals(Long.toBinaryString(want), Long.toBinaryString(snaps[0][0]), "private RAM, MIGRATION");
            assertArrayEquals(snaps[0], snaps[1], "shared RAM marks what private RAM marks");
        }
        shared.close();
    }

    @Test
    void closeReleasesAtOnceWhenNothingUsesItAndTheOwnerMayThenUnmap() throws Exception {
        SharedFile f = file(4 * TARGET_PAGE_SIZE);
        RamRegion ram = f.region("gone", 12);
        AddressSpace as = new AddressSpace("sys");
        as.map(0, ram);
        Dma.forCpu(as).writeU64(0, 42);
        IllegalStateException mapped = assertThrows(IllegalStateException.class, ram::close);
        assertTrue(mapped.getMessage().contains("still mapped in 1 address space"), mapped.getMessage());
        assertEquals(0, f.releases.get(), "a refused close releases nothing");
        as.unmap(ram);

        ram.close();
        assertEquals(1, f.releases.get());
        assertSame(Thread.currentThread(), f.releasedOn.get(), "released by the closing thread");
        assertTrue(ram.isClosed() && ram.isReleased());
        ram.close();
        assertEquals(1, f.releases.get(), "released once");

        f.unmapMine(); // the owner unmaps: from here on, a stray access would crash the JVM
        assertEquals(42, f.theirs.getLong(0), "the data stay in the shared memory");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> ram.getU64(0));
        assertEquals("RAM region 'gone' is closed", e.getMessage());
        assertThrows(IllegalStateException.class, () -> ram.putBytes(0, new byte[8], 0, 8));
        assertThrows(IllegalStateException.class, () -> as.map(0, ram));
        assertEquals(0, ram.populatedBytes());
    }

    /**
     * The zero-copy case: a device maps guest memory, then the owner removes the region from
     * the address space and closes it while the mapping is still live. Nothing is released under
     * the mapper: its view still reads and writes the shared memory, new accesses fail, and the
     * release happens at the unmap, on the unmapping thread.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aLiveMappingKeepsTheRegionFromBeingReleasedAfterItLeavesTheAddressSpace() throws Exception {
        SharedFile f = file(8 * TARGET_PAGE_SIZE);
        RamRegion ram = f.region("busy", 12);
        AddressSpace as = new AddressSpace("sys");
        as.map(BASE, ram);
        ram.startDirtyLog(DirtyClient.MIGRATION);
        CountDownLatch mapped = new CountDownLatch(1);
        CountDownLatch closed = new CountDownLatch(1);
        Queue<Throwable> errors = new ConcurrentLinkedQueue<>();
        long[] seenDuring = new long[1];
        Thread device = new Thread(() -> {
            try {
                Dma dma = Dma.forCpu(as);
                DmaMapping m = new DmaMapping();
                dma.map(BASE + 3 * TARGET_PAGE_SIZE, 64, true, m);
                mapped.countDown();
                TestSupport.await(closed);
                m.buffer().putLong(0, 0xfeedL); // after close: the memory must still be there
                seenDuring[0] = m.buffer().getLong(8);
                dma.unmap(m, 8);
            } catch (Throwable e) {
                errors.add(e);
            }
        }, "device-with-mapping");
        device.start();
        mapped.await();
        assertEquals(1, ram.liveMappings());
        as.unmap(ram);
        f.theirs.putLong(3 * TARGET_PAGE_SIZE + 8, 0xbeefL);
        ram.close();
        assertTrue(ram.isClosed());
        assertFalse(ram.isReleased(), "released under a live mapping");
        assertEquals(0, f.releases.get());
        assertThrows(IllegalStateException.class, () -> ram.getU8(0), "new accesses fail at once");
        closed.countDown();
        device.join();
        assertTrue(errors.isEmpty(), () -> "the device failed: " + errors);
        assertEquals(0xbeefL, seenDuring[0], "the mapping still saw the other process's write");
        assertEquals(0xfeedL, f.theirs.getLong(3 * TARGET_PAGE_SIZE), "and its own write landed in the shared memory");
        assertEquals(1, f.releases.get(), "released once, by the last unmap");
        assertSame(device, f.releasedOn.get());
        assertTrue(ram.isReleased());
        assertEquals(0, ram.liveMappings());
        assertTrue(ram.dirtyBitmap(DirtyClient.MIGRATION).getDirty(3), "the unmap marked the page it wrote");
    }

    /** An access under way (held open here through the region's own entry point) delays the release. */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void closeWaitsForAnAccessUnderWayBeforeReleasing() throws Exception {
        SharedFile f = file(4 * TARGET_PAGE_SIZE);
        RamRegion ram = f.region("slow", 12);
        CountDownLatch inside = new CountDownLatch(1);
        CountDownLatch finish = new CountDownLatch(1);
        Queue<Throwable> errors = new ConcurrentLinkedQueue<>();
        Thread accessor = new Thread(() -> {
            try {
                AccessTracker.Slot s = ram.enterForTest();
                inside.countDown();
                TestSupport.await(finish);
                ram.putU64(0, 7); // nested in the open access: allowed, the region waits for it
                ram.exitForTest(s);
            } catch (Throwable e) {
                errors.add(e);
            }
        }, "slow-accessor");
        accessor.start();
        inside.await();
        assertEquals(1, ram.threadsInside());
        AtomicBoolean closeReturned = new AtomicBoolean();
        Thread closer = new Thread(() -> {
            ram.close();
            closeReturned.set(true);
        }, "closer");
        closer.start();
        while (!ram.isClosed()) {
            Thread.onSpinWait();
        }
        IllegalStateException late = assertThrows(IllegalStateException.class, () -> ram.getU8(0));
        assertEquals("RAM region 'slow' is closed", late.getMessage(), "an access that starts after close fails");
        while (closer.getState() != Thread.State.TIMED_WAITING && closer.isAlive()) {
            Thread.onSpinWait(); // the closer backs off, waiting for the accessor
        }
        assertFalse(closeReturned.get(), "close returned while an access was under way");
        assertEquals(0, f.releases.get(), "released while an access was under way");
        finish.countDown();
        closer.join();
        accessor.join();
        assertTrue(errors.isEmpty(), () -> "the accessor failed: " + errors);
        assertTrue(closeReturned.get());
        assertEquals(1, f.releases.get());
        assertSame(closer, f.releasedOn.get());
        assertEquals(7, f.theirs.getLong(0), "the access under way completed");
        assertEquals(0, ram.threadsInside());
    }

    /**
     * Accessors race with close: each access either completes or fails with the region's
     * closed message, and none lands after the release. The release action snapshots the
     * shared memory; nothing written through the region may change it afterwards.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void noAccessLandsAfterTheRelease() throws Exception {
        int size = 8 * TARGET_PAGE_SIZE;
        for (int trial = 0; trial < 20 * Stress.scale(); trial++) {
            SharedFile f = file(size);
            RamRegion ram = f.region("raced-" + trial, 12);
            byte[] atRelease = new byte[size];
            f.onRelease(() -> f.theirs.get(0, atRelease));
            Queue<Throwable> errors = new ConcurrentLinkedQueue<>();
            AtomicLong completed = new AtomicLong();
            Thread[] ts = new Thread[2];
            for (int t = 0; t < ts.length; t++) {
                final int id = t;
                ts[t] = new Thread(() -> {
                    byte[] buf = new byte[2 * TARGET_PAGE_SIZE];
                    for (long i = 1; ; i++) {
                        try {
                            if ((i & 1) == 0) {
                                ram.putU64(8L * ((i * 31 + id) % (size / 8)), i);
                            } else {
                                java.util.Arrays.fill(buf, (byte) i);
                                ram.putBytes((id * 3L + i) % 6 * TARGET_PAGE_SIZE, buf, 0, buf.length);
                            }
                            completed.incrementAndGet();
                        } catch (IllegalStateException e) {
                            if (!e.getMessage().equals("RAM region '" + ram.name() + "' is closed")) {
                                errors.add(e);
                            }
                            return;
                        } catch (Throwable e) {
                            errors.add(e);
                            return;
                        }
                    }
                }, "racing-writer-" + t);
                ts[t].start();
            }
            while (completed.get() < 200) {
                Thread.onSpinWait();
            }
            ram.close();
            for (Thread t : ts) {
                t.join();
            }
            assertTrue(errors.isEmpty(), () -> "a writer failed otherwise: " + errors);
            assertEquals(1, f.releases.get());
            byte[] now = new byte[size];
            f.theirs.get(0, now);
            assertEquals(-1, java.util.Arrays.mismatch(atRelease, now),
                    "trial " + trial + ": a write landed in the shared memory after the region released it");
        }
    }

    @Test
    void viewsThatDoNotCoverTheMappingAreRefused() throws Exception {
        SharedFile f = file(4 * TARGET_PAGE_SIZE);
        long a = f.address();
        long len = f.size;
        Runnable nop = () -> { };
        IllegalArgumentException heap = assertThrows(IllegalArgumentException.class,
                () -> RamRegion.shared("r", a, len, 12, (off, n) -> ByteBuffer.allocate(n), nop));
        assertTrue(heap.getMessage().startsWith("shared RAM region 'r': the view of 0x0+4096 must be a writable direct"
                + " buffer of 4096 bytes at " + Hex.of(a) + ", got a heap buffer"), heap.getMessage());
        IllegalArgumentException shifted = assertThrows(IllegalArgumentException.class,
                () -> RamRegion.shared("r", a, len, 12, (off, n) -> f.mine.slice((int) off + 8, n), nop));
        assertTrue(shifted.getMessage().contains("at " + Hex.of(a) + ", got a direct buffer of 4096 bytes at "
                + Hex.of(a + 8)), shifted.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> RamRegion.shared("r", a, len, 12, (off, n) -> f.mine.slice((int) off, n).asReadOnlyBuffer(), nop));
        assertThrows(IllegalArgumentException.class,
                () -> RamRegion.shared("r", a, len, 12, (off, n) -> f.mine.slice((int) off, n / 2), nop));
        assertThrows(IllegalArgumentException.class,
                () -> RamRegion.shared("r", a, len, 12, (off, n) -> null, nop));
        IllegalArgumentException misaligned = assertThrows(IllegalArgumentException.class,
                () -> RamRegion.shared("r", a + 8, len - TARGET_PAGE_SIZE, (off, n) -> f.mine.slice((int) off + 8, n), nop));
        assertTrue(misaligned.getMessage().contains("is not a page-aligned mapping"), misaligned.getMessage());
        assertThrows(IllegalArgumentException.class, () -> RamRegion.shared("r", a, len - 1, (off, n) -> null, nop));
        assertThrows(IllegalArgumentException.class, () -> RamRegion.shared("r", 0, len, (off, n) -> null, nop));
        assertThrows(IllegalArgumentException.class, () -> RamRegion.shared("r", a, len, 11, (off, n) -> null, nop));
        assertThrows(NullPointerException.class, () -> RamRegion.shared("r", a, len, null, nop));
        assertEquals(0, f.releases.get());
    }
}
