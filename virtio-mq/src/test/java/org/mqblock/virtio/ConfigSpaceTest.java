package org.mqblock.virtio;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.mqblock.block.driver.DriverCapabilities;
import org.mqblock.core.loop.IOThread;

/**
 * What {@link VirtioBlk.Config} promises in the config space and keeps: a read-only disk refuses
 * every write with IOERR and writes nothing, a logical block size is advertised and enforced, and
 * the config space bytes a vhost-user front-end asks for (GET_CONFIG) are the device's own.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ConfigSpaceTest {

    private IOThread io;
    private GuestMemory mem;
    private GatedDriver disk;
    private RawDevice d;

    private void start(VirtioBlk.Config config) {
        io = IOThread.start("config-io", IOThread.UNPINNED);
        mem = GuestMemory.create("guest", 8 << 20, 1L << 32);
        disk = new GatedDriver(1 << 20);
        d = new RawDevice(io, mem, ~0L, disk, config);
    }

    @AfterEach
    void stop() {
        if (d != null) {
            d.close();
            io.close();
            mem.close();
        }
    }

    private int request(int type, long sector, int len, boolean writable, int n) {
        d.offerRequest(type, sector, len, writable);
        d.awaitUsed(n);
        return d.status();
    }

    @Test
    void aReadOnlyDiskOffersRoAndAnswersIoErrToEveryWriteWithoutWriting() {
        start(new VirtioBlk.Config(1, RawDevice.NUM, true, "ro", true, 512));
        assertTrue(Vring.has(d.device.offeredFeatures(), VirtioBlkSpec.F_RO));
        assertEquals(VirtioBlkSpec.S_IOERR, request(VirtioBlkSpec.T_OUT, 0, 4096, false, 1), "OUT");
        d.dma.writeU32(d.buffers + 4096 + VirtioBlkSpec.SEGMENT_NUM_SECTORS, 8);
        assertEquals(VirtioBlkSpec.S_IOERR, request(VirtioBlkSpec.T_DISCARD, 0, 16, false, 2), "DISCARD");
        assertEquals(VirtioBlkSpec.S_IOERR, request(VirtioBlkSpec.T_WRITE_ZEROES, 0, 16, false, 3), "WRITE_ZEROES");
        assertEquals(0, disk.writes.get() + disk.discards.get() + disk.writeZeroes.get(), "nothing reached the backend");
        assertEquals(VirtioBlkSpec.S_OK, request(VirtioBlkSpec.T_IN, 0, 4096, true, 4), "reads work");
        assertEquals(VirtioBlkSpec.S_OK, request(VirtioBlkSpec.T_FLUSH, 0, 0, false, 5), "so does a flush");
    }

    @Test
    void aWritableDiskDoesNotOfferRo() {
        start(new VirtioBlk.Config(1, RawDevice.NUM, true, "rw"));
        assertTrue(!Vring.has(d.device.offeredFeatures(), VirtioBlkSpec.F_RO));
        assertEquals(VirtioBlkSpec.S_OK, request(VirtioBlkSpec.T_OUT, 0, 4096, false, 1));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "aligned,              8, 4096, 0",
        "512-byte sector,      1, 4096, 1",
        "512-byte length,      8, 512,  1",
    })
    void theLogicalBlockSizeIsAdvertisedAndRequestsNotAlignedToItFail(String what, long sector, int len, int status) {
        start(new VirtioBlk.Config(1, RawDevice.NUM, true, "4k", false, 4096));
        assertEquals(4096, d.device.configSpace().getInt(VirtioBlkSpec.CONFIG_BLK_SIZE));
        assertEquals(4096 / 512, d.device.configSpace().getInt(VirtioBlkSpec.CONFIG_DISCARD_ALIGNMENT));
        assertEquals(status, request(VirtioBlkSpec.T_IN, sector, len, true, 1), what);
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 256, 1000, 131072})
    void aLogicalBlockSizeThatIsNoPowerOfTwoFrom512To64KIsRefused(int size) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new VirtioBlk.Config(1, 8, true, "x", false, size));
        assertTrue(e.getMessage().contains("logical block size"), e.getMessage());
    }

    @Test
    void aLogicalBlockSizeBelowTheBackendsAlignmentIsRefused() {
        io = IOThread.start("config-io", IOThread.UNPINNED);
        try (GuestMemory m = GuestMemory.create("guest", 1 << 20, 1L << 32)) {
            GatedDriver aligned4k = new GatedDriver(1 << 20, new DriverCapabilities(true, 4096, 1 << 20, true, true));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new VirtioBlk("vblk", aligned4k, m.addressSpace(), new VirtioBlk.Config(1, 8, true, "x"),
                            VqMapping.roundRobin(1, 1), List.of(io.context()), null));
            assertTrue(e.getMessage().contains("smaller than the backend's request alignment 4096"), e.getMessage());
        } finally {
            io.close();
        }
    }

    @Test
    void getConfigReadsTheDevicesBytes() {
        start(new VirtioBlk.Config(1, RawDevice.NUM, true, "cfg"));
        ByteBuffer all = d.device.configSpace();
        byte[] qemu72 = d.device.readConfig(0, 57); // what QEMU 7.2's vhost-user-blk asks for
        byte[] expected = new byte[57];
        all.get(0, expected);
        assertArrayEquals(expected, qemu72);
        assertEquals((1 << 20) / 512, ByteBuffer.wrap(qemu72).order(java.nio.ByteOrder.LITTLE_ENDIAN)
                .getLong(VirtioBlkSpec.CONFIG_CAPACITY));
        byte[] numQueues = d.device.readConfig(VirtioBlkSpec.CONFIG_NUM_QUEUES, 2);
        assertArrayEquals(new byte[] {1, 0}, numQueues);
        assertEquals(VirtioBlkSpec.CONFIG_SIZE, d.device.readConfig(0, VirtioBlkSpec.CONFIG_SIZE).length);
        for (int[] bad : new int[][] {{50, 20}, {-1, 1}, {0, -1}, {VirtioBlkSpec.CONFIG_SIZE, 1}}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> d.device.readConfig(bad[0], bad[1]));
            assertTrue(e.getMessage().contains("outside the " + VirtioBlkSpec.CONFIG_SIZE + "-byte config space"),
                    e.getMessage());
        }
    }
}
