package org.mqblock.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.mqblock.core.loop.AioContext;

/** AddressSpace: lookup, and errors that name the address, the size and the region. */
class AddressSpaceTest {

    private static final MmioOps NOP = new MmioOps() {
        @Override
        public long read(long offset, int size) {
            return 0;
        }

        @Override
        public void write(long offset, long value, int size) {}
    };

    @Test
    void accessCrossingTheEndOfARegionIsRefusedWithItsRange() {
        try (RamRegion ram0 = new RamRegion("ram0", 0x2000)) {
            AddressSpace as = new AddressSpace("sys");
            as.map(0, ram0);
            Dma dma = Dma.forCpu(as);
            MemoryAccessException e = assertThrows(MemoryAccessException.class, () -> dma.writeU64(0x1ffc, 1));
            assertEquals(MemoryAccessException.Kind.CROSSES_REGION, e.kind());
            assertEquals("address space 'sys': access 0x1ffc+8 crosses the end of region 'ram0' [0x0, 0x2000)",
                    e.getMessage());
            assertEquals(0, ram0.getU32(0x1ffc), "a refused access has no effect");
            assertThrows(MemoryAccessException.class, () -> dma.read(0x1000, new byte[0x1001], 0, 0x1001));
            as.unmap(ram0);
        }
    }

    @Test
    void accessSpanningTwoAdjacentRegionsIsRefusedAndWritesNothing() {
        try (RamRegion lo = new RamRegion("lo", 0x1000); RamRegion hi = new RamRegion("hi", 0x1000)) {
            AddressSpace as = new AddressSpace("sys");
            as.map(0x10000, lo);
            as.map(0x11000, hi);
            Dma dma = Dma.forCpu(as);
            MemoryAccessException e = assertThrows(MemoryAccessException.class,
                    () -> dma.write(0x10ff0, new byte[32], 0, 32));
            assertTrue(e.getMessage().contains("access 0x10ff0+32 crosses the end of region 'lo' [0x10000, 0x11000)"),
                    e.getMessage());
            assertEquals(0, lo.populatedBytes() + hi.populatedBytes(), "nothing was written on either side");
            as.unmap(lo);
            as.unmap(hi);
        }
    }

    @Test
    void unmappedAddressIsNamedWithTheRegionsAroundIt() throws Exception {
        try (RamRegion ram0 = new RamRegion("ram0", 0x2000); AioContext ctx = new AioContext("dev")) {
            AddressSpace as = new AddressSpace("sys");
            as.map(0, ram0);
            as.map(0x8000, new MmioRegion("mmio0", 0x1000, ctx, null, NOP));
            Dma dma = Dma.forCpu(as);
            MemoryAccessException e = assertThrows(MemoryAccessException.class, () -> dma.readU32(0x5000));
            assertEquals(MemoryAccessException.Kind.UNMAPPED, e.kind());
            assertEquals("address space 'sys': 0x5000 is not mapped (access 0x5000+4; below it: 'ram0' [0x0, 0x2000);"
                    + " above it: 'mmio0' [0x8000, 0x9000))", e.getMessage());
            MemoryAccessException past = assertThrows(MemoryAccessException.class, () -> dma.writeU8(0x9000, 1));
            assertTrue(past.getMessage().startsWith("address space 'sys': 0x9000 is not mapped"), past.getMessage());
            assertThrows(MemoryAccessException.class, () -> dma.readU8(-8), "addresses are below 2^63");
            AddressSpace empty = new AddressSpace("empty");
            assertTrue(assertThrows(MemoryAccessException.class, () -> Dma.forCpu(empty).readU8(0))
                    .getMessage().contains("nothing is mapped"));
            as.unmap(ram0);
        }
    }

    @Test
    void overlappingMisalignedAndDuplicateMappingsAreRefused() throws Exception {
        try (RamRegion a = new RamRegion("a", 0x2000); RamRegion b = new RamRegion("b", 0x2000)) {
            AddressSpace as = new AddressSpace("sys");
            as.map(0x4000, a);
            IllegalArgumentException overlap = assertThrows(IllegalArgumentException.class, () -> as.map(0x5000, b));
            assertEquals("address space 'sys': region 'b' [0x5000, 0x7000) overlaps 'a' [0x4000, 0x6000)",
                    overlap.getMessage());
            assertTrue(assertThrows(IllegalArgumentException.class, () -> as.map(0x6800, b)).getMessage()
                    .contains("not page-aligned"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> as.map(0x10000, a)).getMessage()
                    .contains("already mapped at 0x4000"));
            assertThrows(IllegalArgumentException.class, () -> as.map(Long.MAX_VALUE - 0x1000, b));
            assertThrows(IllegalArgumentException.class, () -> as.unmap(b));
            as.map(0x6000, b); // adjacent is fine
            assertEquals(List.of(new AddressSpace.Mapping(0x4000, a), new AddressSpace.Mapping(0x6000, b)), as.mappings());
            as.unmap(a);
            as.unmap(b);
        }
    }

    /** Lookup against a linear scan, with many regions, through a Dma (whose last-hit hint must never mislead). */
    @Test
    void lookupFindsTheRegionOfEveryAddress() throws Exception {
        AddressSpace as = new AddressSpace("many");
        List<RamRegion> regions = new ArrayList<>();
        List<long[]> ranges = new ArrayList<>();
        SplittableRandom rnd = new SplittableRandom(11);
        long base = 0;
        for (int i = 0; i < 64; i++) {
            base += (long) rnd.nextInt(4) * 0x1000; // sometimes adjacent, sometimes a gap
            RamRegion r = new RamRegion("r" + i, (1 + rnd.nextInt(3)) * 0x1000L);
            as.map(base, r);
            regions.add(r);
            ranges.add(new long[] {base, base + r.size()});
            base += r.size();
        }
        Dma dma = Dma.forCpu(as);
        for (int i = 0; i < 20_000; i++) {
            long addr = rnd.nextLong(base + 0x2000);
            int expect = -1;
            for (int k = 0; k < ranges.size(); k++) {
                if (addr >= ranges.get(k)[0] && addr < ranges.get(k)[1]) {
                    expect = k;
                }
            }
            MemoryRegion got = as.regionAt(addr);
            if (expect < 0) {
                assertNull(got, Long.toHexString(addr));
                assertThrows(MemoryAccessException.class, () -> dma.readU8(addr));
            } else {
                assertSame(regions.get(expect), got, Long.toHexString(addr));
                dma.writeU8(addr, (int) addr);
                assertEquals((int) addr & 0xff, regions.get(expect).getU8(addr - ranges.get(expect)[0]));
            }
        }
        for (RamRegion r : regions) {
            as.unmap(r);
            r.close();
        }
        assertThrows(MemoryAccessException.class, () -> dma.readU8(0), "the hint does not survive unmapping");
    }
}
