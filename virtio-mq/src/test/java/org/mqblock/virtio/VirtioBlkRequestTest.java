package org.mqblock.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** What each request type answers, including the refusals that must write nothing. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class VirtioBlkRequestTest {

    static final long SIZE = 1 << 20;
    private VirtioBlkRig rig;
    private GuestBlkDriver.Vcpu vcpu;

    @BeforeEach
    void start() {
        rig = VirtioBlkRig.start(VirtioBlkRig.Options.defaults(VirtioBlkRig.Mode.MQ, "driver=memory,size=" + SIZE, 2)
                .withQueues(2, 1, "round-robin").withSlots(2, 8192).withPin(false));
        vcpu = rig.vcpu(0);
    }

    @AfterEach
    void stop() {
        rig.close();
    }

    /** Each test runs in its own thread (JUnit timeouts): that thread is the vCPU. */
    private void bindHere() {
        vcpu.bind();
    }

    private int run(int type, long offset, int length) {
        bindHere();
        GuestBlkDriver.Slot s = vcpu.freeSlot();
        vcpu.submit(s, type, offset, length);
        int[] status = {-1};
        while (vcpu.awaitCompletions(x -> status[0] = x.status()) == 0) {
            Thread.onSpinWait();
        }
        return status[0];
    }

    private ByteBuffer pattern(int n, int seed) {
        ByteBuffer b = ByteBuffer.allocate(n);
        for (int i = 0; i < n; i++) {
            b.put(i, (byte) (seed + i * 13));
        }
        return b;
    }

    private void put(ByteBuffer data) {
        bindHere();
        GuestBlkDriver.Slot s = vcpu.freeSlot();
        vcpu.dma().write(s.dataAddress(), data, 0, data.capacity());
        // give the slot back: freeSlot hands out the most recently freed slot first
        vcpu.submit(s, VirtioBlkSpec.T_FLUSH, 0, 0);
        while (vcpu.awaitCompletions(x -> { }) == 0) {
            Thread.onSpinWait();
        }
    }

    private ByteBuffer readBack(long offset, int n) {
        assertEquals(VirtioBlkSpec.S_OK, run(VirtioBlkSpec.T_IN, offset, n));
        ByteBuffer b = ByteBuffer.allocate(n);
        GuestBlkDriver.Slot s = vcpu.freeSlot(); // the slot just used
        vcpu.dma().read(s.dataAddress(), b, 0, n);
        vcpu.submit(s, VirtioBlkSpec.T_FLUSH, 0, 0);
        while (vcpu.awaitCompletions(x -> { }) == 0) {
            Thread.onSpinWait();
        }
        return b;
    }

    @Test
    void configSpaceAndFeaturesDescribeTheDevice() {
        ByteBuffer c = rig.device().configSpace();
        assertEquals(SIZE / 512, c.getLong(VirtioBlkSpec.CONFIG_CAPACITY));
        assertEquals(2, c.getShort(VirtioBlkSpec.CONFIG_NUM_QUEUES));
        assertEquals(512, c.getInt(VirtioBlkSpec.CONFIG_BLK_SIZE));
        assertEquals(rig.device().segMax(), c.getInt(VirtioBlkSpec.CONFIG_SEG_MAX));
        long f = rig.device().offeredFeatures();
        for (int bit : new int[] {Vring.F_VERSION_1, Vring.F_EVENT_IDX, Vring.F_INDIRECT_DESC, VirtioBlkSpec.F_MQ,
                VirtioBlkSpec.F_FLUSH, VirtioBlkSpec.F_DISCARD, VirtioBlkSpec.F_WRITE_ZEROES, VirtioBlkSpec.F_SEG_MAX,
                VirtioBlkSpec.F_BLK_SIZE}) {
            assertTrue(Vring.has(f, bit), "feature bit " + bit);
        }
    }

    @Test
    void writesReadBackAndGetIdReturnsTheSerial() {
        put(pattern(8192, 5));
        assertEquals(VirtioBlkSpec.S_OK, run(VirtioBlkSpec.T_OUT, 4096, 8192));
        assertEquals(pattern(8192, 5), readBack(4096, 8192));
        assertEquals(VirtioBlkSpec.S_OK, run(VirtioBlkSpec.T_GET_ID, 0, VirtioBlkSpec.ID_BYTES));
        ByteBuffer id = readBackRaw(VirtioBlkSpec.ID_BYTES);
        String serial = new String(id.array(), StandardCharsets.US_ASCII).replace("\0", "");
        assertEquals("mqblock-vblk0", serial);
    }

    private ByteBuffer readBackRaw(int n) {
        ByteBuffer b = ByteBuffer.allocate(n);
        GuestBlkDriver.Slot s = vcpu.freeSlot();
        vcpu.dma().read(s.dataAddress(), b, 0, n);
        vcpu.submit(s, VirtioBlkSpec.T_FLUSH, 0, 0);
        while (vcpu.awaitCompletions(x -> { }) == 0) {
            Thread.onSpinWait();
        }
        return b;
    }

    @Test
    void outOfRangeAndMisalignedRequestsGetIoErrAndWriteNothing() {
        put(pattern(4096, 1));
        assertEquals(VirtioBlkSpec.S_OK, run(VirtioBlkSpec.T_OUT, SIZE - 4096, 4096));
        put(pattern(8192, 2));
        assertEquals(VirtioBlkSpec.S_IOERR, run(VirtioBlkSpec.T_OUT, SIZE - 4096, 8192), "crosses the end");
        assertEquals(VirtioBlkSpec.S_IOERR, run(VirtioBlkSpec.T_OUT, SIZE, 512), "starts at the end");
        assertEquals(VirtioBlkSpec.S_IOERR, run(VirtioBlkSpec.T_OUT, 0, 100), "not a whole sector");
        assertEquals(VirtioBlkSpec.S_IOERR, run(VirtioBlkSpec.T_IN, 1L << 60, 512), "sector far away");
        assertEquals(pattern(4096, 1), readBack(SIZE - 4096, 4096), "the refused writes changed nothing");
        assertEquals(ByteBuffer.allocate(4096), readBack(0, 4096));
        assertFalse(rig.device().isBroken(), "a bad range is an I/O error, not a broken device");
    }

    @Test
    void unknownTypesAreUnsupportedAndDiscardAndWriteZeroesWork() {
        assertEquals(VirtioBlkSpec.S_UNSUPP, run(99, 0, 512));
        put(pattern(8192, 3));
        assertEquals(VirtioBlkSpec.S_OK, run(VirtioBlkSpec.T_OUT, 0, 8192));
        ByteBuffer seg = ByteBuffer.allocate(VirtioBlkSpec.SEGMENT_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        seg.putLong(VirtioBlkSpec.SEGMENT_SECTOR, 8).putInt(VirtioBlkSpec.SEGMENT_NUM_SECTORS, 8);
        put(seg);
        assertEquals(VirtioBlkSpec.S_OK, run(VirtioBlkSpec.T_WRITE_ZEROES, 0, VirtioBlkSpec.SEGMENT_SIZE));
        ByteBuffer expected = pattern(8192, 3);
        for (int i = 4096; i < 8192; i++) {
            expected.put(i, (byte) 0);
        }
        assertEquals(expected, readBack(0, 8192));
        seg.putInt(VirtioBlkSpec.SEGMENT_FLAGS, 0x80);
        put(seg);
        assertEquals(VirtioBlkSpec.S_UNSUPP, run(VirtioBlkSpec.T_DISCARD, 0, VirtioBlkSpec.SEGMENT_SIZE), "unknown flags");
        seg.putInt(VirtioBlkSpec.SEGMENT_FLAGS, 0).putLong(VirtioBlkSpec.SEGMENT_SECTOR, SIZE / 512);
        put(seg);
        assertEquals(VirtioBlkSpec.S_IOERR, run(VirtioBlkSpec.T_DISCARD, 0, VirtioBlkSpec.SEGMENT_SIZE), "past the end");
        assertEquals(VirtioBlkSpec.S_OK, run(VirtioBlkSpec.T_FLUSH, 0, 0));
    }

    @Test
    void aKickForAQueueThatDoesNotExistIsCountedAndIgnored() {
        rig.device().kick(2); // num_queues is 2
        rig.device().kick(-1);
        rig.device().kick(Integer.MAX_VALUE);
        assertEquals(3, rig.device().strayKickCount());
        assertFalse(rig.device().isBroken());
        assertEquals(VirtioBlkSpec.S_OK, run(VirtioBlkSpec.T_IN, 0, 4096), "the device serves on");
    }
}
