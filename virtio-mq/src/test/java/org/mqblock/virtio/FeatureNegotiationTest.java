package org.mqblock.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.mqblock.block.driver.DriverCapabilities;
import org.mqblock.core.loop.IOThread;

/**
 * What the negotiated features change: without FLUSH every write is flushed before it completes
 * (the driver then believes there is no write cache and never flushes); DISCARD is offered only
 * over a backend that discards; and a feature set that is not a subset of the offer or lacks
 * VERSION_1 is refused at FEATURES_OK.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FeatureNegotiationTest {

    private static final long FLUSH = 1L << VirtioBlkSpec.F_FLUSH;
    private IOThread io;
    private GuestMemory mem;
    private RawDevice d;

    private GatedDriver start(long features, boolean discards) {
        io = IOThread.start("features-io", IOThread.UNPINNED);
        mem = GuestMemory.create("guest", 8 << 20, 1L << 32);
        GatedDriver disk = new GatedDriver(1 << 20, new DriverCapabilities(true, 512, 32 << 20, discards, true));
        d = new RawDevice(io, mem, features, disk, new VirtioBlk.Config(1, RawDevice.NUM, true, "vblk"));
        return disk;
    }

    @AfterEach
    void stop() {
        d.close();
        io.close();
        mem.close();
    }

    private void writeFourTimes() {
        for (int i = 0; i < 4; i++) {
            d.offerRequest(VirtioBlkSpec.T_OUT, 8L * i, 4096, false);
            d.awaitUsed(i + 1);
            assertEquals(VirtioBlkSpec.S_OK, d.status());
        }
    }

    @Test
    void withoutFlushEveryWriteIsFlushedBeforeItCompletes() {
        GatedDriver disk = start(~FLUSH, true);
        assertFalse(Vring.has(d.device.features(), VirtioBlkSpec.F_FLUSH));
        for (int i = 0; i < 4; i++) {
            d.offerRequest(VirtioBlkSpec.T_OUT, 8L * i, 4096, false);
            d.awaitUsed(i + 1);
            assertEquals(VirtioBlkSpec.S_OK, d.status());
            assertEquals("WF".repeat(i + 1), disk.writesAndFlushes.toString(),
                    "write " + i + " completed only after a flush that followed it");
        }
    }

    @Test
    void withFlushWritesAreNotFlushedByTheDevice() {
        GatedDriver disk = start(~0L, true);
        writeFourTimes();
        assertEquals("WWWW", disk.writesAndFlushes.toString());
    }

    @Test
    void discardIsOfferedOnlyOverABackendThatDiscards() {
        GatedDriver disk = start(~0L, false);
        assertFalse(Vring.has(d.device.offeredFeatures(), VirtioBlkSpec.F_DISCARD));
        assertTrue(Vring.has(d.device.offeredFeatures(), VirtioBlkSpec.F_WRITE_ZEROES));
        d.prepareRequest(VirtioBlkSpec.T_DISCARD, 0, VirtioBlkSpec.SEGMENT_SIZE, false);
        d.dma.writeU32(d.buffers + 4096 + VirtioBlkSpec.SEGMENT_NUM_SECTORS, 8);
        d.offer(0);
        d.awaitUsed(1);
        assertEquals(VirtioBlkSpec.S_UNSUPP, d.status(), "DISCARD was not negotiated");
        assertEquals(0, disk.discards.get());
    }

    @Test
    void featuresNotOfferedOrWithoutVersion1AreRefusedAndWhileRunningToo() {
        start(~0L, true);
        VirtioBlk dev = d.device;
        assertThrows(IllegalStateException.class, () -> dev.negotiate(dev.offeredFeatures()), "queue 0 runs");
        dev.reset();
        long sizeMax = 1L << VirtioBlkSpec.F_SIZE_MAX;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> dev.negotiate(dev.offeredFeatures() | sizeMax));
        assertTrue(e.getMessage().contains("does not offer: 0x2"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> dev.negotiate(dev.offeredFeatures() & ~(1L << Vring.F_VERSION_1)));
        assertTrue(e.getMessage().contains("VIRTIO_F_VERSION_1"), e.getMessage());
        assertEquals(0, dev.deviceStatus() & Vring.STATUS_FEATURES_OK, "nothing was accepted");
        dev.negotiate(dev.offeredFeatures());
        assertEquals(Vring.STATUS_FEATURES_OK, dev.deviceStatus());
    }
}
