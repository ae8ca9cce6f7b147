package org.mqblock.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Timeout;
import org.mqblock.block.driver.DriverCapabilities;
import org.mqblock.core.loop.IOThread;

/**
 * The limits the config space advertises are the limits the device keeps: a DISCARD or
 * WRITE_ZEROES of more than {@code max_discard_sectors} / {@code max_write_zeroes_sectors} gets
 * IOERR and reaches no backend (QEMU's virtio_blk_handle_discard_write_zeroes), more than {@code
 * max_*_seg} (1) segments UNSUPP, a short segment IOERR. The backend takes 64 KiB per request
 * here: 128 sectors.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DiscardWriteZeroesLimitsTest {

    private IOThread io;
    private GuestMemory mem;
    private GatedDriver disk;
    private RawDevice d;

    @BeforeEach
    void start() {
        io = IOThread.start("limits-io", IOThread.UNPINNED);
        mem = GuestMemory.create("guest", 8 << 20, 1L << 32);
        disk = new GatedDriver(1 << 20, new DriverCapabilities(true, 512, 64 << 10, true, true));
        d = new RawDevice(io, mem, ~0L, disk, new VirtioBlk.Config(1, RawDevice.NUM, true, "vblk"));
    }

    @AfterEach
    void stop() {
        d.close();
        io.close();
        mem.close();
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "discard at the limit,            11, 128, 16, 0, 1",
        "discard past the limit,          11, 129, 16, 1, 0",
        "write-zeroes at the limit,       13, 128, 16, 0, 1",
        "write-zeroes past the limit,     13, 129, 16, 1, 0",
        "write-zeroes of 2^32-1 sectors,  13, 4294967295, 16, 1, 0",
        "two discard segments,            11, 8,   32, 2, 0",
        "a short discard segment,         11, 8,   8,  1, 0",
    })
    void rangesPastTheAdvertisedLimitsFailAndReachNoBackend(String what, int type, long sectors, int segmentBytes,
                                                          int status, int reached) {
        ByteBuffer c = d.device.configSpace();
        assertEquals(128, c.getInt(VirtioBlkSpec.CONFIG_MAX_DISCARD_SECTORS));
        assertEquals(128, c.getInt(VirtioBlkSpec.CONFIG_MAX_WRITE_ZEROES_SECTORS));
        assertEquals(1, c.getInt(VirtioBlkSpec.CONFIG_MAX_DISCARD_SEG));
        ByteBuffer seg = ByteBuffer.allocate(32).order(ByteOrder.LITTLE_ENDIAN);
        for (int at = 0; at < 32; at += VirtioBlkSpec.SEGMENT_SIZE) {
            seg.putLong(at + VirtioBlkSpec.SEGMENT_SECTOR, 0).putInt(at + VirtioBlkSpec.SEGMENT_NUM_SECTORS, (int) sectors);
        }
        d.prepareRequest(type, 0, segmentBytes, false);
        d.dma.write(d.buffers + 4096, seg, 0, segmentBytes);
        d.offer(0);
        d.awaitUsed(1);
        assertEquals(status, d.status(), what);
        assertEquals(reached, disk.discards.get() + disk.writeZeroes.get(), what + ": requests that reached the backend");
        assertFalse(d.device.isBroken(), "a bad range is an I/O error, not a broken device");
    }
}
