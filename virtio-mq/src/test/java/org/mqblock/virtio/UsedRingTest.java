package org.mqblock.virtio;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.mqblock.core.loop.IOThread;
import org.mqblock.memory.AddressSpace;
import org.mqblock.memory.RamRegion;
import org.mqblock.nativeio.Mapping;
import org.mqblock.nativeio.MemFd;

/**
 * The used ring as the driver reads it, element by element: the guest driver model looks only at
 * the head of each used element and ignores its length, so this test reads the ring itself.
 * Each round makes a read and a write available together; after the round the used index must
 * have moved by exactly two, and the two new elements must be those two heads, each once, with
 * the bytes the device wrote into the chain (data plus the status byte for the read, the status
 * byte alone for the write). The read fetches what the previous round wrote.
 */
class UsedRingTest {

    private static final int READ_HEAD = 0; // descriptors 0, 1, 2
    private static final int WRITE_HEAD = 3; // descriptors 3, 4, 5
    private static final int DATA = 4096;

    private static final long RAM = 8 << 20;
    private static final long BASE = 1L << 32;

    /**
     * On private RAM, and on guest RAM over a memfd that a second mapping (another process's view,
     * as QEMU's) also maps: the device works unchanged on it, and that view sees what it wrote.
     */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void everyHeadComesBackExactlyOnceWithTheBytesTheDeviceWrote(boolean sharedMemfd) throws Exception {
        try (IOThread io = IOThread.start("used-ring", IOThread.UNPINNED);
             MemFd memfd = MemFd.create("guest-ram", MemFd.MFD_CLOEXEC)) {
            GuestMemory mem;
            Mapping ours = null;
            Mapping theirs = null;
            if (sharedMemfd) {
                memfd.truncate(RAM);
                Mapping m = memfd.map(0, RAM);
                ours = m;
                theirs = memfd.map(0, RAM);
                AddressSpace as = new AddressSpace("used-ring");
                RamRegion ram = RamRegion.shared("used-ring-ram", m.address(), RAM,
                        (off, len) -> m.segment().asSlice(off, len).asByteBuffer(), m::close);
                as.map(BASE, ram);
                mem = new GuestMemory(as, ram, BASE);
            } else {
                mem = GuestMemory.create("used-ring", RAM, BASE);
            }
            try {
                RawDevice d = new RawDevice("used-ring", io, mem, ~0L);
                try {
                    long readBuf = d.buffers;
                    long writeBuf = d.buffers + 16384;
                    int rounds = 100; // the 8-entry used ring wraps 25 times
                    for (int r = 0; r < rounds; r++) {
                        long writeSector = r % 2 == 0 ? 8 : 16;
                        long readSector = r % 2 == 0 ? 16 : 8; // what the previous round wrote
                        chain(d, READ_HEAD, readBuf, VirtioBlkSpec.T_IN, readSector);
                        chain(d, WRITE_HEAD, writeBuf, VirtioBlkSpec.T_OUT, writeSector);
                        d.dma.write(writeBuf + 4096, pattern(r), 0, DATA);
                        d.offer(READ_HEAD);
                        d.offer(WRITE_HEAD);

                        int want = 2 * (r + 1);
                        while (d.usedIdx() < want && !d.device.isBroken()) {
                            Thread.onSpinWait();
                        }
                        settle(io);
                        assertFalse(d.device.isBroken(), d.device.brokenReason());
                        assertEquals(want, d.usedIdx(), "round " + r + ": two heads made available, two used");
                        int idA = usedId(d, want - 2);
                        int idB = usedId(d, want - 1);
                        assertTrue(idA == READ_HEAD && idB == WRITE_HEAD || idA == WRITE_HEAD && idB == READ_HEAD,
                                "round " + r + ": used heads " + idA + ", " + idB + "; each of 0 and 3 exactly once");
                        int readAt = idA == READ_HEAD ? want - 2 : want - 1;
                        assertEquals(DATA + 1, usedLen(d, readAt), "round " + r + ": a read writes its data and the status");
                        assertEquals(1, usedLen(d, readAt == want - 2 ? want - 1 : want - 2),
                                "round " + r + ": a write writes only the status");
                        assertEquals(VirtioBlkSpec.S_OK, d.dma.readU8(readBuf + 8192));
                        assertEquals(VirtioBlkSpec.S_OK, d.dma.readU8(writeBuf + 8192));
                        byte[] got = new byte[DATA];
                        d.dma.read(readBuf + 4096, got, 0, DATA);
                        assertArrayEquals(r == 0 ? new byte[DATA] : pattern(r - 1).array(), got,
                                "round " + r + ": the read returns the previous round's write");
                        if (theirs != null) { // the other mapping sees the device's writes
                            byte[] seen = theirs.segment().asSlice(readBuf + 4096 - BASE, DATA).toArray(ValueLayout.JAVA_BYTE);
                            assertArrayEquals(got, seen, "round " + r + ": the second mapping sees the read's data");
                            assertEquals(VirtioBlkSpec.S_OK, theirs.segment().get(ValueLayout.JAVA_BYTE, readBuf + 8192 - BASE));
                        }
                    }
                    assertEquals(0, d.device.node().inFlight());
                    assertEquals(0, io.failureCount(), "the IOThread saw " + io.firstFailure());
                } finally {
                    d.close();
                }
            } finally {
                mem.close(); // a shared region runs its release (unmapping ours) once unused
                if (theirs != null) {
                    assertTrue(!ours.isMapped(), "the region released our mapping when closed");
                    theirs.close();
                }
            }
        }
    }

    /** Header at {@code base}, 4 KiB of data at +4096, the status byte at +8192, from {@code head} on. */
    private static void chain(RawDevice d, int head, long base, int type, long sector) {
        d.dma.writeU32(base + VirtioBlkSpec.HEADER_TYPE, type);
        d.dma.writeU64(base + VirtioBlkSpec.HEADER_SECTOR, sector);
        d.dma.writeU8(base + 8192, 0xff); // the device must overwrite it
        int dataFlags = type == VirtioBlkSpec.T_IN ? Vring.DESC_F_WRITE : 0;
        d.desc(head, base, VirtioBlkSpec.HEADER_SIZE, Vring.DESC_F_NEXT, head + 1);
        d.desc(head + 1, base + 4096, DATA, dataFlags | Vring.DESC_F_NEXT, head + 2);
        d.desc(head + 2, base + 8192, 1, Vring.DESC_F_WRITE, 0);
    }

    private static int usedId(RawDevice d, int index) {
        return d.dma.readU32(d.used + Vring.USED_RING + (long) Vring.USED_ELEM_SIZE * (index % RawDevice.NUM));
    }

    private static int usedLen(RawDevice d, int index) {
        return d.dma.readU32(d.used + Vring.USED_RING + (long) Vring.USED_ELEM_SIZE * (index % RawDevice.NUM) + 4);
    }

    /** Waits until the IOThread has run everything the last kicks started (twice: completions may defer once). */
    private static void settle(IOThread io) throws InterruptedException {
        for (int i = 0; i < 2; i++) {
            CountDownLatch passed = new CountDownLatch(1);
            io.context().schedule(passed::countDown);
            assertTrue(passed.await(30, TimeUnit.SECONDS), "the IOThread is stuck");
        }
    }

    private static java.nio.ByteBuffer pattern(int seed) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(DATA);
        for (int i = 0; i < DATA; i++) {
            b.put(i, (byte) (seed * 31 + i * 7 + (i >>> 8)));
        }
        return b;
    }
}
