package org.mqblock.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.mqblock.core.loop.IOThread;

/**
 * Fuzzes the device with what a guest can write: descriptors (direct and indirect), available
 * ring entries, raw available indices, request headers, and kicks, in any order (after QEMU's
 * virtio-blk fuzz target). Each input is a sequence of 16-byte records, little-endian:
 *
 * <pre>
 *  0 u8  op: 0 descriptor, 1 indirect-table entry, 2 offer head, 3 set avail idx, 4 request header, 5 kick
 *  1 u8  slot (descriptor index, table entry, header slot)
 *  2 u16 value (head, avail idx, request type)
 *  4 u32 length
 *  8 u16 flags
 * 10 u16 next
 * 12 u32 address: an offset into the guest's buffer area, or (high bit set) a raw guest address
 * </pre>
 *
 * After every kick the device settles; then, and at the end: the IOThread never saw an exception
 * (the device handles every guest mistake itself), nothing is left in flight, a broken device says
 * why, and every guest-memory mapping was given back (closing the RAM would fail otherwise).
 *
 * <p>Under {@code mvn verify} this runs the committed seed corpus (regression mode). To fuzz:
 * {@code JAZZER_FUZZ=1 JAZZER_MAX_DURATION=10m mvn -pl virtio-mq -am test -Dtest=VirtioBlkFuzzTest};
 * inputs that crash are written to the module directory ({@code crash-*}): add the ones worth keeping
 * to this class's Inputs directory, which is the regression corpus. The generated corpus goes to
 * {@code .cifuzz-corpus/} (ignored).
 */
class VirtioBlkFuzzTest {

    static final int RECORD = 16;
    static IOThread io;

    @BeforeAll
    static void start() {
        io = IOThread.start("fuzz-io", IOThread.UNPINNED);
    }

    @AfterAll
    static void stop() {
        io.close();
    }

    @FuzzTest(maxDuration = "10s")
    void descriptorChainsAndRequests(byte[] input) throws Exception {
        GuestMemory mem = GuestMemory.create("fuzz", 4 << 20, 1L << 32);
        RawDevice d = new RawDevice("fuzzed", io, mem, ~0L);
        long table = d.buffers + 32 * 1024; // indirect tables live in the upper half of the buffer area
        ByteBuffer in = ByteBuffer.wrap(input).order(ByteOrder.LITTLE_ENDIAN);
        try {
            for (int at = 0; at + RECORD <= input.length && at < 64 * RECORD; at += RECORD) {
                int op = (in.get(at) & 0xff) % 6;
                int slot = in.get(at + 1) & 0xff;
                int value = in.getShort(at + 2) & 0xffff;
                int len = in.getInt(at + 4);
                int flags = in.getShort(at + 8) & 0xffff;
                int next = in.getShort(at + 10) & 0xffff;
                int a = in.getInt(at + 12);
                long addr = a < 0 ? Integer.toUnsignedLong(a) & 0x7fffffffL : d.buffers + Integer.remainderUnsigned(a, 32 * 1024);
                switch (op) {
                    case 0 -> d.desc(slot % RawDevice.NUM, addr, len, flags, next);
                    case 1 -> d.desc(table, slot % 64, addr, len, flags, next);
                    case 2 -> d.offer(value % (RawDevice.NUM * 2));
                    case 3 -> d.setAvailIdx(value);
                    case 4 -> {
                        long h = d.buffers + (slot % 8) * 1024L;
                        d.dma.writeU32(h + VirtioBlkSpec.HEADER_TYPE, value % 16);
                        d.dma.writeU64(h + VirtioBlkSpec.HEADER_SECTOR, Integer.toUnsignedLong(len));
                    }
                    default -> {
                        d.device.kick(0);
                        settleAndCheck(d);
                    }
                }
            }
            d.device.kick(0);
            settleAndCheck(d);
        } finally {
            d.close();
            mem.close(); // fails if the device left any guest memory mapped
        }
    }

    /** Waits until the device has handled the kick and completed what it took, then checks invariants. */
    private static void settleAndCheck(RawDevice d) throws InterruptedException {
        for (int round = 0; round < 2; round++) {
            CountDownLatch passed = new CountDownLatch(1);
            io.context().schedule(passed::countDown);
            assertTrue(passed.await(30, TimeUnit.SECONDS), "the IOThread is stuck");
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (d.device.node().inFlight() > 0) {
            assertTrue(System.nanoTime() < deadline, d.device.node().inFlight() + " request(s) never completed");
            Thread.onSpinWait();
        }
        assertEquals(0, io.failureCount(), "an exception escaped into the IOThread: " + io.firstFailure());
        assertTrue(io.isRunning());
        if (d.device.isBroken()) {
            assertNotNull(d.device.brokenReason());
        }
    }
}
