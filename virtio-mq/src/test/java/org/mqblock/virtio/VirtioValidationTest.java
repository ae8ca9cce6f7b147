package org.mqblock.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.mqblock.block.driver.MemoryDriver;
import org.mqblock.core.loop.IOThread;

/**
 * One malformed-guest case per test, as QEMU's virtqueue_pop and virtio-blk refuse them: the
 * device marks itself broken with a message that names the problem, its IOThread keeps running,
 * a second device on the same IOThread keeps serving, and a reset brings the first one back.
 */
class VirtioValidationTest {

    static final long ALL = ~0L;
    static final long NO_INDIRECT = ~(1L << Vring.F_INDIRECT_DESC);

    private IOThread io;
    private GuestMemory mem;
    private RawDevice raw;
    private VirtioBlk other;
    private GuestBlkDriver.Vcpu otherVcpu;

    record Case(String name, long features, Consumer<RawDevice> guest, String expected) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Arguments> cases() {
        return Stream.of(
            new Case("head out of range", ALL, d -> d.offer(RawDevice.NUM), "outside the table of 8"),
            new Case("next out of range", ALL, d -> {
                d.desc(0, d.buffers, 16, Vring.DESC_F_NEXT, 9);
                d.offer(0);
            }, "chains to 9, outside the 8-entry table"),
            new Case("looped chain", ALL, d -> {
                d.desc(0, d.buffers, 16, Vring.DESC_F_NEXT, 1);
                d.desc(1, d.buffers + 16, 16, Vring.DESC_F_NEXT, 0);
                d.offer(0);
            }, "loops or is longer than its 8-entry table"),
            new Case("over-long indirect chain", ALL, d -> {
                long t = d.buffers + 16384;
                d.desc(t, 0, d.buffers, 16, Vring.DESC_F_NEXT, 1);
                d.desc(t, 1, d.buffers, 16, Vring.DESC_F_NEXT, 2);
                d.desc(t, 2, d.buffers, 16, Vring.DESC_F_NEXT, 0);
                d.desc(0, t, 48, Vring.DESC_F_INDIRECT, 0);
                d.offer(0);
            }, "loops or is longer than its 3-entry table"),
            new Case("indirect table of a bad size", ALL, d -> {
                d.desc(0, d.buffers + 16384, 20, Vring.DESC_F_INDIRECT, 0);
                d.offer(0);
            }, "indirect table of 20 bytes"),
            new Case("nested indirect table", ALL, d -> {
                long t = d.buffers + 16384;
                d.desc(t, 0, d.buffers + 20480, 16, Vring.DESC_F_INDIRECT, 0);
                d.desc(0, t, 16, Vring.DESC_F_INDIRECT, 0);
                d.offer(0);
            }, "nested indirect table"),
            new Case("indirect and next together", ALL, d -> {
                d.desc(0, d.buffers + 16384, 16, Vring.DESC_F_INDIRECT | Vring.DESC_F_NEXT, 1);
                d.offer(0);
            }, "both INDIRECT and NEXT"),
            new Case("indirect not negotiated", NO_INDIRECT, d -> {
                d.desc(0, d.buffers + 16384, 32, Vring.DESC_F_INDIRECT, 0);
                d.offer(0);
            }, "INDIRECT_DESC was not negotiated"),
            // Direct descriptors followed by an indirect one are valid (VIRTIO 1.2 2.7.5.3.2, see
            // VirtioBlkChainLayoutTest); the rules still hold across the switch into the table.
            new Case("readable in the table after writable before it", ALL, d -> {
                long t = d.buffers + 16384;
                d.desc(t, 0, d.buffers + 4096, 16, 0, 0);
                d.desc(0, d.buffers, 16, Vring.DESC_F_WRITE | Vring.DESC_F_NEXT, 1);
                d.desc(1, t, 16, Vring.DESC_F_INDIRECT, 0);
                d.offer(0);
            }, "device-readable after a device-writable"),
            new Case("indirect table after direct ones, not negotiated", NO_INDIRECT, d -> {
                d.desc(0, d.buffers, 16, Vring.DESC_F_NEXT, 1);
                d.desc(1, d.buffers + 16384, 16, Vring.DESC_F_INDIRECT, 0);
                d.offer(0);
            }, "INDIRECT_DESC was not negotiated"),
            new Case("readable after writable", ALL, d -> {
                d.desc(0, d.buffers, 16, Vring.DESC_F_WRITE | Vring.DESC_F_NEXT, 1);
                d.desc(1, d.buffers + 16, 16, 0, 0);
                d.offer(0);
            }, "device-readable after a device-writable"),
            new Case("zero-length buffer", ALL, d -> {
                d.desc(0, d.buffers, 0, 0, 0);
                d.offer(0);
            }, "zero-length buffer"),
            new Case("buffer outside guest RAM", ALL, d -> {
                d.desc(0, 0x10, 16, Vring.DESC_F_NEXT, 1);
                d.desc(1, d.buffers, 1, Vring.DESC_F_WRITE, 0);
                d.offer(0);
            }, "cannot be mapped"),
            new Case("indirect table outside guest RAM", ALL, d -> {
                d.desc(0, 0x1000, 32, Vring.DESC_F_INDIRECT, 0);
                d.offer(0);
            }, "descriptor chain at head 0"),
            new Case("avail idx jumps past the queue size", ALL, d -> d.setAvailIdx(100), "more than the queue size 8"),
            new Case("missing status buffer", ALL, d -> {
                d.dma.writeU32(d.buffers, VirtioBlkSpec.T_IN);
                d.desc(0, d.buffers, 16, 0, 0);
                d.offer(0);
            }, "missing its header or status buffer"),
            new Case("short header", ALL, d -> {
                d.desc(0, d.buffers, 8, Vring.DESC_F_NEXT, 1);
                d.desc(1, d.buffers + 8192, 1, Vring.DESC_F_WRITE, 0);
                d.offer(0);
            }, "shorter than 16 bytes")
        ).map(Arguments::of);
    }

    @BeforeEach
    void start() {
        io = IOThread.start("shared-io", IOThread.UNPINNED);
        mem = GuestMemory.create("guest", 8 << 20, 1L << 32);
        other = new VirtioBlk("other", new MemoryDriver(1 << 20), mem.addressSpace(),
                new VirtioBlk.Config(1, 8, true, "other"), VqMapping.roundRobin(1, 1), List.of(io.context()), null);
        GuestBlkDriver guest = new GuestBlkDriver(other, mem, 8, true, true, false, VcpuModel.BARE);
        otherVcpu = guest.newVcpu(0, mem, 2, 4096);
    }

    @AfterEach
    void stop() {
        if (raw != null) {
            raw.close();
        }
        other.close();
        io.close();
        mem.close();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void malformedGuestBreaksOnlyItsDeviceUntilReset(Case c) throws Exception {
        raw = new RawDevice("victim", io, mem, c.features());
        c.guest().accept(raw);
        while (!raw.device.isBroken()) {
            Thread.sleep(1);
        }
        assertTrue(raw.device.brokenReason().contains(c.expected()),
                "'" + raw.device.brokenReason() + "' should say '" + c.expected() + "'");
        assertEquals(1, raw.device.brokenCount());
        assertTrue(io.isRunning(), "the IOThread survives");
        assertEquals(0, io.failureCount(), "the error was handled by the device, not thrown into the loop");
        assertEquals(0, raw.device.node().inFlight());

        // The other device on the same IOThread still serves.
        otherVcpu.bind();
        try {
            ByteBuffer data = ByteBuffer.allocate(4096);
            for (int i = 0; i < 4096; i++) {
                data.put(i, (byte) i);
            }
            GuestBlkDriver.Slot s = otherVcpu.freeSlot();
            otherVcpu.dma().write(s.dataAddress(), data, 0, 4096);
            otherVcpu.submit(s, VirtioBlkSpec.T_OUT, 8192, 4096);
            int[] status = {-1};
            while (otherVcpu.awaitCompletions(x -> status[0] = x.status()) == 0) {
                Thread.onSpinWait();
            }
            assertEquals(VirtioBlkSpec.S_OK, status[0]);
        } finally {
            otherVcpu.unbind();
        }
        assertFalse(other.isBroken());

        // A reset and a fresh setup bring the broken device back.
        raw.device.reset();
        assertFalse(raw.device.isBroken());
        raw.start(ALL);
        raw.offerGoodRead(0);
        while (raw.usedIdx() != 1) {
            Thread.sleep(1);
        }
        assertEquals(VirtioBlkSpec.S_OK, raw.status());
        assertFalse(raw.device.isBroken());
    }
}
