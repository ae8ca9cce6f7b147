package org.mqblock.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.mqblock.core.loop.IOThread;
import org.mqblock.memory.AddressSpace;
import org.mqblock.memory.Dma;
import org.mqblock.memory.RamRegion;

/**
 * Ring addresses: refused by name at setup and start when they are not RAM, run off it, or are
 * misaligned; and when the memory map changes under a running queue, the failed ring access
 * breaks the device (needs reset) instead of escaping into the IOThread.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class VirtioBlkRingAddressTest {

    static final long RINGS = 0x10000; // a 64 KiB RAM region for the rings
    static final long BUFS = 0x100000; // a 1 MiB RAM region for the buffers
    static final int NUM = 8;
    static final long DESC = RINGS;
    static final long AVAIL = RINGS + 0x1000;
    static final long USED = RINGS + 0x2000;

    private IOThread io;
    private AddressSpace as;
    private RamRegion rings;
    private RamRegion bufs;
    private GatedDriver disk;
    private VirtioBlk device;
    private Dma cpu;
    /** A stop that did not return: leave the device alone rather than hang the build closing it. */
    private boolean stuck;

    @BeforeEach
    void start() {
        io = IOThread.start("ring-io", IOThread.UNPINNED, 0); // no busy-polling: only the completion touches the rings
        as = new AddressSpace("guest");
        rings = new RamRegion("rings", 64 << 10);
        bufs = new RamRegion("bufs", 1 << 20);
        as.map(RINGS, rings);
        as.map(BUFS, bufs);
        cpu = Dma.forCpu(as);
        disk = new GatedDriver(1 << 20);
        device = new VirtioBlk("vblk", disk, as, new VirtioBlk.Config(1, NUM, true, "vblk"), VqMapping.roundRobin(1, 1),
                List.of(io.context()), null);
        device.negotiate(device.offeredFeatures());
    }

    @AfterEach
    void stop() {
        if (stuck) {
            return;
        }
        device.close();
        io.close();
        if (as.baseOf(rings) >= 0) {
            as.unmap(rings);
        }
        as.unmap(bufs);
        rings.close();
        bufs.close();
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "descriptor table outside RAM, 0x8000,  0x11000, 0x12000, descriptor table at 0x8000 is not in guest RAM",
        "descriptor table runs off RAM, 0x1ffa0, 0x11000, 0x12000, descriptor table at 0x1ffa0 (128 bytes) runs off the end of RAM region 'rings'",
        "descriptor table misaligned, 0x10008, 0x11000, 0x12000, descriptor table at 0x10008 is not 16-byte aligned",
        "available ring misaligned,   0x10000, 0x11001, 0x12000, available ring at 0x11001 is not 2-byte aligned",
        "available ring runs off RAM, 0x10000, 0x1fff0, 0x12000, available ring at 0x1fff0 (22 bytes) runs off the end",
        "used ring misaligned,        0x10000, 0x11000, 0x12002, used ring at 0x12002 is not 4-byte aligned",
        "used ring between regions,   0x10000, 0x11000, 0x1ffe0, used ring at 0x1ffe0 (70 bytes) runs off the end",
        "used ring far away,          0x10000, 0x11000, 0x7fff0000, used ring at 0x7fff0000 is not in guest RAM",
    })
    void badRingAddressesAreRefusedAtSetupAndStartNamingQueueAndAddress(String what, long desc, long avail, long used,
                                                                       String expected) {
        IllegalArgumentException setup = assertThrows(IllegalArgumentException.class,
                () -> device.setupQueue(0, NUM, desc, avail, used));
        assertTrue(setup.getMessage().contains("queue 0: " + expected), setup.getMessage());
        IllegalArgumentException start = assertThrows(IllegalArgumentException.class,
                () -> device.startQueue(0, NUM, desc, avail, used, 0, null));
        assertTrue(start.getMessage().contains("queue 0: " + expected), start.getMessage());
        assertFalse(device.isRunning(0));
        device.startQueue(0, NUM, DESC, AVAIL, USED, 0, null); // the good layout is accepted
        assertTrue(device.isRunning(0));
    }

    /** A 4 KiB read of sector 0 at head 0: header, data and status in the buffer region. */
    private void offerRead() {
        cpu.writeU32(BUFS + VirtioBlkSpec.HEADER_TYPE, VirtioBlkSpec.T_IN);
        cpu.writeU64(BUFS + VirtioBlkSpec.HEADER_SECTOR, 0);
        desc(0, BUFS, 16, Vring.DESC_F_NEXT, 1);
        desc(1, BUFS + 4096, 4096, Vring.DESC_F_WRITE | Vring.DESC_F_NEXT, 2);
        desc(2, BUFS + 8192, 1, Vring.DESC_F_WRITE, 0);
        cpu.writeU16(AVAIL + Vring.AVAIL_RING, 0);
        java.lang.invoke.VarHandle.fullFence();
        cpu.writeU16(AVAIL + Vring.AVAIL_IDX, 1);
        java.lang.invoke.VarHandle.fullFence();
        device.kick(0);
    }

    private void desc(int i, long addr, int len, int flags, int next) {
        long at = DESC + (long) Vring.DESC_SIZE * i;
        cpu.writeU64(at + Vring.DESC_ADDR, addr);
        cpu.writeU32(at + Vring.DESC_LEN, len);
        cpu.writeU16(at + Vring.DESC_FLAGS, flags);
        cpu.writeU16(at + Vring.DESC_NEXT, next);
    }

    private void awaitBroken() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!device.isBroken()) {
            if (System.nanoTime() > deadline) {
                stuck = true;
                throw new AssertionError("the device never broke; the IOThread saw " + io.firstFailure());
            }
            Thread.sleep(1);
        }
    }

    @Test
    void ringsUnmappedUnderARunningQueueBreakTheDeviceNotTheIOThread() throws Exception {
        device.startQueue(0, NUM, DESC, AVAIL, USED, 0, null);
        as.unmap(rings); // the memory map changed: the front-end's table no longer has the rings
        device.kick(0);
        awaitBroken();
        assertTrue(device.brokenReason().contains("ring access failed") && device.brokenReason().contains("is not mapped"),
                device.brokenReason());
        assertEquals(0, io.failureCount(), "escaped into the IOThread: " + io.firstFailure());
        assertTrue(io.isRunning());
        assertEquals(0, device.stopQueue(0));
    }

    @Test
    void aUsedRingGoneWhenARequestCompletesBreaksTheDeviceAndTheStopStillReturns() throws Exception {
        device.startQueue(0, NUM, DESC, AVAIL, USED, 0, null);
        disk.hold();
        offerRead();
        while (device.node().inFlight() < 1) {
            Thread.onSpinWait();
        }
        io.context().acquire(); // the handler that submitted it has returned: nothing else reads the rings
        io.context().release();
        as.unmap(rings);
        disk.open(); // the completion finds no used ring
        awaitBroken();
        assertTrue(device.brokenReason().contains("used ring access failed"), device.brokenReason());
        CompletableFuture<Integer> stopped = CompletableFuture.supplyAsync(() -> device.stopQueue(0));
        try {
            assertEquals(1, stopped.get(20, TimeUnit.SECONDS));
        } catch (TimeoutException e) {
            stuck = true;
            throw new AssertionError("stopQueue waits for an element the failed push dropped");
        }
        assertEquals(0, io.failureCount(), "escaped into the IOThread: " + io.firstFailure());
    }
}
