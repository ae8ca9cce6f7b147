package org.mqblock.memory;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mqblock.memory.TargetPage.TARGET_PAGE_SIZE;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * RamRegion: little-endian accessors, chunk boundaries, multi-GiB offsets, dirty marking,
 * lifetime; the properties that do not depend on who owns the memory are proved for private and
 * shared memory alike.
 */
class RamRegionTest {

    private static final long GIB = 1L << 30;

    /**
     * Every accessor against a heap ByteBuffer in little-endian order, at random offsets, with
     * chunks of one page so that a fair share of accesses straddle two chunks.
     */
    @ParameterizedTest
    @EnumSource(RamKind.class)
    void littleEndianAccessorsAgreeWithAByteBufferModelAcrossChunkBoundaries(RamKind kind) throws Exception {
        int size = 16 * TARGET_PAGE_SIZE;
        ByteBuffer model = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        try (RamKind.Factory regions = new RamKind.Factory(kind);
             RamRegion ram = regions.create("ram", size, RamRegion.MIN_CHUNK_BITS)) {
            SplittableRandom rnd = new SplittableRandom(7);
            for (int i = 0; i < 50_000; i++) {
                int width = 1 << rnd.nextInt(4);
                // Half of the accesses sit within 8 bytes of a chunk boundary.
                int off = rnd.nextBoolean()
                        ? rnd.nextInt(size - 8)
                        : Math.max(0, (1 + rnd.nextInt(15)) * TARGET_PAGE_SIZE - 1 - rnd.nextInt(8));
                long v = rnd.nextLong();
                if (rnd.nextBoolean()) {
                    switch (width) {
                        case 1 -> { ram.putU8(off, (int) v); model.put(off, (byte) v); }
                        case 2 -> { ram.putU16(off, (int) v); model.putShort(off, (short) v); }
                        case 4 -> { ram.putU32(off, (int) v); model.putInt(off, (int) v); }
                        default -> { ram.putU64(off, v); model.putLong(off, v); }
                    }
                } else {
                    switch (width) {
                        case 1 -> assertEquals(model.get(off) & 0xff, ram.getU8(off), "u8 at " + off);
                        case 2 -> assertEquals(model.getShort(off) & 0xffff, ram.getU16(off), "u16 at " + off);
                        case 4 -> assertEquals(model.getInt(off), ram.getU32(off), "u32 at " + off);
                        default -> assertEquals(model.getLong(off), ram.getU64(off), "u64 at " + off);
                    }
                }
            }
            byte[] all = new byte[size];
            ram.getBytes(0, all, 0, size);
            assertArrayEquals(model.array(), all);
        }
    }

    @ParameterizedTest
    @EnumSource(RamKind.class)
    void bytesAreStoredLittleEndian(RamKind kind) throws Exception {
        try (RamKind.Factory regions = new RamKind.Factory(kind); RamRegion ram = regions.create("ram", TARGET_PAGE_SIZE)) {
            ram.putU64(0, 0x0807060504030201L);
            for (int i = 0; i < 8; i++) {
                assertEquals(i + 1, ram.getU8(i));
            }
            assertEquals(0x0201, ram.getU16(0));
            assertEquals(0x04030201, ram.getU32(0));
            ram.putU32(100, 0xdeadbeef);
            assertEquals(0xef, ram.getU8(100));
            assertEquals(0xdeadbeefL, Integer.toUnsignedLong(ram.getU32(100)));
        }
    }

    @ParameterizedTest
    @EnumSource(RamKind.class)
    void bulkCopiesSpanSeveralChunksInBothDirections(RamKind kind) throws Exception {
        int size = 8 * TARGET_PAGE_SIZE;
        try (RamKind.Factory regions = new RamKind.Factory(kind);
             RamRegion ram = regions.create("ram", size, RamRegion.MIN_CHUNK_BITS)) {
            byte[] src = new byte[3 * TARGET_PAGE_SIZE + 100];
            new SplittableRandom(3).nextBytes(src);
            int at = TARGET_PAGE_SIZE - 50; // starts 50 bytes before the first chunk boundary
            ram.putBytes(at, src, 0, src.length);
            byte[] back = new byte[src.length];
            ram.getBytes(at, back, 0, back.length);
            assertArrayEquals(src, back);

            ByteBuffer direct = ByteBuffer.allocateDirect(src.length + 10);
            ram.getBytes(at, direct, 10, src.length);
            for (int i = 0; i < src.length; i++) {
                assertEquals(src[i], direct.get(10 + i));
            }
            assertEquals(0, direct.position(), "absolute: the position is not used");
            ram.putBytes(5 * TARGET_PAGE_SIZE - 7, direct, 10, 20);
            for (int i = 0; i < 20; i++) {
                assertEquals(src[i] & 0xff, ram.getU8(5 * TARGET_PAGE_SIZE - 7 + i));
            }
        }
    }

    @Test
    void memoryNeverWrittenReadsZeroWithoutBeingPopulated() {
        try (RamRegion ram = new RamRegion("ram", 64L << 20)) {
            assertEquals(0, ram.populatedBytes());
            assertEquals(0, ram.getU64(12345));
            byte[] b = new byte[8192];
            b[17] = 1;
            ram.getBytes(3L << 20, b, 0, b.length);
            assertArrayEquals(new byte[8192], b);
            ram.setMemory(0, 1 << 20, (byte) 0); // zeroing memory that reads zero populates nothing
            assertEquals(0, ram.populatedBytes());
            ram.putU8(5L << 20, 1);
            assertEquals(2L << 20, ram.populatedBytes(), "one 2 MiB chunk for one write");
        }
    }

    /**
     * A 6 GiB region: offsets beyond 2^31 and 2^32 (where an int index would wrap) address
     * distinct bytes, accesses straddle the chunk boundary at 4 GiB, and only the chunks touched
     * cost memory.
     */
    @Test
    void multiGibRegionAddressesEveryOffsetAndPopulatesOnlyWhatIsTouched() {
        try (RamRegion ram = new RamRegion("big", 6 * GIB)) {
            long[] offsets = {0, GIB - 4, (1L << 31) + 8, (1L << 32) - 3, (1L << 32) + 5, 6 * GIB - 8};
            for (int i = 0; i < offsets.length; i++) {
                ram.putU64(offsets[i], 0x1111_1111_1111_1111L * (i + 1));
            }
            for (int i = 0; i < offsets.length; i++) {
                assertEquals(0x1111_1111_1111_1111L * (i + 1), ram.getU64(offsets[i]), "at " + Long.toHexString(offsets[i]));
            }
            assertEquals(0, ram.getU64(1L << 31), "2^31 is not 0: no int wrap-around");
            assertTrue(ram.populatedBytes() <= 8 * (2L << 20), "populated " + ram.populatedBytes());
            assertEquals(6 * GIB / TARGET_PAGE_SIZE, ram.pages());
            MemoryAccessException end = assertThrows(MemoryAccessException.class, () -> ram.getU64(6 * GIB - 4));
            assertEquals(MemoryAccessException.Kind.CROSSES_REGION, end.kind());
        }
    }

    @Test
    void preallocPopulatesEverythingUpFront() {
        try (RamRegion ram = new RamRegion("pre", 5 * TARGET_PAGE_SIZE, 13, true)) {
            assertEquals(5 * TARGET_PAGE_SIZE, ram.populatedBytes(), "three chunks, the last one a single page");
            assertEquals(0, ram.getU64(4 * TARGET_PAGE_SIZE + 8));
        }
    }

    @ParameterizedTest
    @EnumSource(RamKind.class)
    void writesMarkEveryTouchedPageForActiveClientsOnly(RamKind kind) throws Exception {
        try (RamKind.Factory regions = new RamKind.Factory(kind); RamRegion ram = regions.create("ram", 16 * TARGET_PAGE_SIZE)) {
            DirtyBitmap mig = ram.dirtyBitmap(DirtyClient.MIGRATION);
            DirtyBitmap vga = ram.dirtyBitmap(DirtyClient.DISPLAY);
            ram.putU64(0, 1);
            assertEquals(0, mig.count(), "no client active: nothing marked");

            ram.startDirtyLog(DirtyClient.MIGRATION);
            ram.putU64(TARGET_PAGE_SIZE - 4, -1L); // straddles pages 0 and 1
            assertTrue(mig.getDirty(0));
            assertTrue(mig.getDirty(1));
            assertEquals(2, mig.count());
            assertEquals(0, vga.count(), "DISPLAY is not active");

            ram.startDirtyLog(DirtyClient.DISPLAY);
            ram.putBytes(3L * TARGET_PAGE_SIZE + 1, new byte[2 * TARGET_PAGE_SIZE], 0, 2 * TARGET_PAGE_SIZE);
            assertEquals(3, vga.count(), "pages 3, 4 and 5");
            assertEquals(5, mig.count());
            ram.setMemory(10L * TARGET_PAGE_SIZE, 1, (byte) 7);
            ram.copyTo(0, ram, 12L * TARGET_PAGE_SIZE, 8);
            assertTrue(mig.getDirty(10) && mig.getDirty(12) && vga.getDirty(10) && vga.getDirty(12));

            ram.stopDirtyLog(DirtyClient.DISPLAY);
            ram.putU8(15L * TARGET_PAGE_SIZE, 1);
            assertTrue(mig.getDirty(15));
            assertFalse(vga.getDirty(15));
            assertTrue(vga.getDirty(3), "stopping keeps what was logged");

            ram.startDirtyLog(DirtyClient.DISPLAY);
            assertEquals(0, vga.count(), "starting a log starts from a clean bitmap");
            IllegalStateException twice = assertThrows(IllegalStateException.class,
                    () -> ram.startDirtyLog(DirtyClient.DISPLAY));
            assertTrue(twice.getMessage().contains("already started"), twice.getMessage());
        }
    }

    @Test
    void copyToAndMismatchTreatUnpopulatedChunksAsZero() {
        int chunk = 2 * TARGET_PAGE_SIZE;
        try (RamRegion a = new RamRegion("a", 4L * chunk, 13, false);
             RamRegion b = new RamRegion("b", 4L * chunk, 12, false)) {
            assertEquals(-1, a.mismatch(b), "both empty");
            a.putU32(chunk + 8, 5);
            assertEquals(chunk + 8, a.mismatch(b));
            a.copyTo(chunk, b, chunk, chunk);
            assertEquals(-1, a.mismatch(b));
            b.putU8(3 * chunk + 100, 9); // only b has this chunk
            assertEquals(3 * chunk + 100, a.mismatch(b));
            a.copyTo(3L * chunk, b, 3L * chunk, chunk); // a's chunk is absent: b's is zeroed
            assertEquals(-1, a.mismatch(b));
            assertEquals(0, b.getU8(3 * chunk + 100));
            assertEquals(0, a.populatedBytes() - chunk, "copying zeros populated nothing in a");
            assertThrows(IllegalArgumentException.class, () -> a.copyTo(0, a, 4, 8), "overlap");
        }
    }

    @ParameterizedTest
    @EnumSource(RamKind.class)
    void closeIsIdempotentAndEveryAccessAfterItFailsNamingTheRegion(RamKind kind) throws Exception {
        try (RamKind.Factory regions = new RamKind.Factory(kind)) {
            closeIsIdempotentAndEveryAccessAfterItFails(regions.create("gone", 4 * TARGET_PAGE_SIZE, 12));
        }
    }

    private static void closeIsIdempotentAndEveryAccessAfterItFails(RamRegion ram) {
        ram.putU64(0, 1); // chunk 0 populated, the others not: both paths must fail after close
        ram.close();
        ram.close();
        assertTrue(ram.isClosed());
        assertTrue(ram.isReleased(), "nothing used it: released at once");
        assertEquals(0, ram.populatedBytes());
        List<Consumer<RamRegion>> uses = List.of(
                r -> r.getU8(0), r -> r.getU64(2 * TARGET_PAGE_SIZE), r -> r.putU8(0, 1), r -> r.putU64(8, 1),
                r -> r.getU16(TARGET_PAGE_SIZE - 1), r -> r.getBytes(0, new byte[4], 0, 4),
                r -> r.putBytes(0, new byte[4], 0, 4), r -> r.setMemory(0, 4, (byte) 0),
                r -> r.mismatch(r), r -> r.startDirtyLog(DirtyClient.DISPLAY),
                r -> r.copyTo(0, r, 2 * TARGET_PAGE_SIZE, 8));
        for (Consumer<RamRegion> use : uses) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> use.accept(ram));
            assertEquals("RAM region 'gone' is closed", e.getMessage());
        }
    }

    @ParameterizedTest
    @EnumSource(RamKind.class)
    void closeIsRefusedWhileMappedAndMappingAClosedRegionFails(RamKind kind) throws Exception {
        try (RamKind.Factory regions = new RamKind.Factory(kind)) {
            RamRegion ram = regions.create("busy", TARGET_PAGE_SIZE);
            AddressSpace as = new AddressSpace("sys");
            as.map(0, ram);
            IllegalStateException e = assertThrows(IllegalStateException.class, ram::close);
            assertTrue(e.getMessage().contains("still mapped in 1 address space"), e.getMessage());
            assertFalse(ram.isClosed());
            as.unmap(ram);
            ram.close();
            assertThrows(IllegalStateException.class, () -> as.map(0, ram));
            assertTrue(as.mappings().isEmpty());
        }
    }

    /**
     * Unmapping a region from its address space does not end the zero-copy mappings made
     * through it: closing it then retires it at once (new accesses and maps fail), but the
     * memory stays until the last mapping is unmapped, which releases it.
     */
    @ParameterizedTest
    @EnumSource(RamKind.class)
    void closeDefersTheReleaseUntilTheLastMappingEnds(RamKind kind) throws Exception {
        try (RamKind.Factory regions = new RamKind.Factory(kind)) {
            RamRegion ram = regions.create("held", 8 * TARGET_PAGE_SIZE, 12);
            AddressSpace as = new AddressSpace("sys");
            as.map(0, ram);
            Dma dma = Dma.forCpu(as);
            DmaMapping w = new DmaMapping();
            DmaMapping r = new DmaMapping();
            dma.map(TARGET_PAGE_SIZE, 16, true, w);
            dma.map(3 * TARGET_PAGE_SIZE, 16, false, r);
            assertEquals(2, ram.liveMappings());
            as.unmap(ram);
            ram.close();
            assertTrue(ram.isClosed());
            assertFalse(ram.isReleased(), "released under two live mappings");
            assertThrows(IllegalStateException.class, () -> ram.putU8(0, 1));
            w.buffer().putLong(0, 0x77); // the memory is still there for the mapper
            assertEquals(0x77, w.buffer().getLong(0));
            assertEquals(0, r.buffer().getLong(0));
            dma.unmap(w, 8);
            assertFalse(ram.isReleased(), "the read mapping still holds it");
            assertEquals(1, ram.liveMappings());
            dma.unmap(r, 0);
            assertTrue(ram.isReleased());
            assertEquals(0, ram.liveMappings());
            assertEquals(0, ram.populatedBytes());
            if (kind == RamKind.SHARED) {
                assertEquals(1, regions.lastFile().releases.get());
                assertEquals(0x77, regions.lastFile().theirs.getLong(TARGET_PAGE_SIZE));
            }
        }
    }

    @Test
    void invalidGeometryIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new RamRegion("odd", 4097));
        assertThrows(IllegalArgumentException.class, () -> new RamRegion("zero", 0));
        assertThrows(IllegalArgumentException.class, () -> new RamRegion("tiny-chunks", TARGET_PAGE_SIZE, 11, false));
        assertThrows(IllegalArgumentException.class, () -> new RamRegion("huge-chunks", TARGET_PAGE_SIZE, 31, false));
        try (RamRegion ram = new RamRegion("ram", TARGET_PAGE_SIZE)) {
            MemoryAccessException e = assertThrows(MemoryAccessException.class, () -> ram.putU32(TARGET_PAGE_SIZE - 2, 0));
            assertTrue(e.getMessage().contains("0xffe+4 is outside region 'ram'"), e.getMessage());
            assertThrows(MemoryAccessException.class, () -> ram.getU8(-1));
            assertThrows(MemoryAccessException.class, () -> ram.getBytes(Long.MAX_VALUE, new byte[1], 0, 1));
        }
    }

    /**
     * Out-of-range accesses, at the region's ends and around chunk boundaries, through the
     * region and through a Dma, fail in shared memory exactly as in private memory: same
     * exception, same kind, same message; and the accesses that fit give the same results.
     */
    @Test
    void boundsAndEdgeErrorsAreTheSameInPrivateAndSharedMemory() throws Exception {
        int size = 4 * TARGET_PAGE_SIZE;
        List<Consumer<RamRegion>> accesses = new ArrayList<>();
        for (long off : new long[] {-1, 0, TARGET_PAGE_SIZE - 3, 2 * TARGET_PAGE_SIZE - 1, size - 8, size - 7, size - 1, size,
                                    Long.MAX_VALUE, Long.MIN_VALUE}) {
            accesses.add(r -> r.getU8(off));
            accesses.add(r -> r.getU16(off));
            accesses.add(r -> r.getU32(off));
            accesses.add(r -> r.getU64(off));
            accesses.add(r -> r.putU16(off, 0x1234));
            accesses.add(r -> r.putU64(off, -1L));
            accesses.add(r -> r.getBytes(off, new byte[16], 0, 16));
            accesses.add(r -> r.getBytes(off, new byte[16], 8, 9));
            accesses.add(r -> r.putBytes(off, new byte[8], 0, 8));
            accesses.add(r -> r.putBytes(off, ByteBuffer.allocateDirect(8), 4, 5));
            accesses.add(r -> r.setMemory(off, 3, (byte) 1));
            accesses.add(r -> r.setMemory(off, -1, (byte) 1));
            accesses.add(r -> r.copyTo(off, r, 0, 8));
            accesses.add(r -> r.copyTo(0, r, off, 2));
            accesses.add(r -> {
                AddressSpace as = new AddressSpace("sys");
                as.map(0x10000, r);
                try {
                    Dma dma = Dma.forCpu(as);
                    dma.writeU32(0x10000 + off, 0xabcd);
                    DmaMapping m = new DmaMapping();
                    int n = dma.map(0x10000 + off, 32, true, m);
                    dma.unmap(m, n);
                } finally {
                    as.unmap(r);
                }
            });
        }
        try (RamKind.Factory priv = new RamKind.Factory(RamKind.PRIVATE);
             RamKind.Factory shared = new RamKind.Factory(RamKind.SHARED)) {
            RamRegion a = priv.create("ram", size, RamRegion.MIN_CHUNK_BITS + 1);
            RamRegion b = shared.create("ram", size, RamRegion.MIN_CHUNK_BITS + 1);
            int failures = 0;
            for (int i = 0; i < accesses.size(); i++) {
                String pa = outcome(accesses.get(i), a);
                String sb = outcome(accesses.get(i), b);
                assertEquals(pa, sb, "access #" + i);
                if (!pa.equals("ok")) {
                    failures++;
                }
            }
            assertTrue(failures > accesses.size() / 3, "most of these accesses are out of range: " + failures);
            assertEquals(-1, a.mismatch(b), "and those that fit wrote the same bytes");
            a.close();
            b.close();
        }
    }

    private static String outcome(Consumer<RamRegion> access, RamRegion r) {
        try {
            access.accept(r);
            return "ok";
        } catch (RuntimeException e) {
            return e.getClass().getSimpleName() + (e instanceof MemoryAccessException m ? " " + m.kind() : "")
                    + ": " + e.getMessage();
        }
    }
}
