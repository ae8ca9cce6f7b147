package org.mqblock.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.mqblock.core.loop.IOThread;
import org.mqblock.memory.Dma;

/**
 * A device that breaks tells the driver: DEVICE_NEEDS_RESET in its status and a configuration
 * change notification, so vCPUs waiting for completions that will never come fail them instead
 * of waiting for ever. And a reset forgets the queues, so a driver must set them up again.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DeviceNeedsResetTest {

    private static final int VCPUS = 3;
    private IOThread io;
    private GuestMemory mem;
    private GatedDriver disk;
    private VirtioBlk device;

    @BeforeEach
    void start() {
        io = IOThread.start("reset-io", IOThread.UNPINNED);
        mem = GuestMemory.create("guest", 16 << 20, 1L << 32);
        disk = new GatedDriver(1 << 20);
        device = new VirtioBlk("vblk", disk, mem.addressSpace(), new VirtioBlk.Config(VCPUS, 16, true, "vblk"),
                VqMapping.roundRobin(VCPUS, 1), List.of(io.context()), null);
    }

    @AfterEach
    void stop() {
        disk.open();
        device.close();
        io.close();
        mem.close();
    }

    /** What one vCPU saw: the statuses its requests ended with, and what a later submit said. */
    record Outcome(List<Integer> statuses, String submitAfter) {}

    @ParameterizedTest(name = "vCPUs poll: {0}")
    @ValueSource(booleans = {false, true})
    void aCorruptRingFromOneVcpuMakesEveryWaitingVcpuFailItsRequests(boolean polling) throws Exception {
        GuestBlkDriver guest = new GuestBlkDriver(device, mem, 16, true, true, polling, VcpuModel.BARE);
        List<GuestBlkDriver.Vcpu> vcpus = new ArrayList<>();
        for (int i = 0; i < VCPUS; i++) {
            vcpus.add(guest.newVcpu(i, mem, 2, 4096));
        }
        disk.hold(); // every request stays in flight: only the break can end the waits
        List<CompletableFuture<Outcome>> outcomes = new ArrayList<>();
        for (GuestBlkDriver.Vcpu v : vcpus) {
            outcomes.add(CompletableFuture.supplyAsync(() -> {
                v.bind();
                try {
                    v.submit(v.freeSlot(), VirtioBlkSpec.T_IN, 0, 4096);
                    v.submit(v.freeSlot(), VirtioBlkSpec.T_IN, 4096, 4096);
                    List<Integer> statuses = new ArrayList<>();
                    while (v.inFlight() > 0) {
                        v.awaitCompletions(s -> statuses.add(s.status()));
                    }
                    String after = null;
                    try {
                        v.submit(v.freeSlot(), VirtioBlkSpec.T_IN, 0, 4096);
                    } catch (IllegalStateException e) {
                        after = e.getMessage();
                    }
                    return new Outcome(statuses, after);
                } finally {
                    v.unbind();
                }
            }, r -> {
                Thread t = new Thread(r, "vcpu");
                t.setDaemon(true); // one left waiting must not keep the JVM up
                t.start();
            }));
        }
        while (device.node().inFlight() < 2 * VCPUS) { // the class timeout bounds a device that never takes them
            Thread.onSpinWait();
        }

        // The malicious vCPU: a head outside the table on queue 0.
        GuestVirtqueue ring = guest.ring(0);
        Dma cpu = Dma.forCpu(mem.addressSpace());
        int idx = cpu.readU16(ring.availAddr() + Vring.AVAIL_IDX);
        cpu.writeU16(ring.availAddr() + Vring.AVAIL_RING + 2L * (idx % ring.size()), 999);
        java.lang.invoke.VarHandle.fullFence();
        cpu.writeU16(ring.availAddr() + Vring.AVAIL_IDX, (idx + 1) & 0xffff);
        device.kick(0);

        for (CompletableFuture<Outcome> f : outcomes) {
            Outcome o = f.get(30, TimeUnit.SECONDS); // a vCPU that still waits fails the test here
            assertEquals(List.of(GuestBlkDriver.S_NEEDS_RESET, GuestBlkDriver.S_NEEDS_RESET), o.statuses());
            assertTrue(o.submitAfter() != null && o.submitAfter().contains("needs reset"), o.submitAfter());
        }
        assertTrue((device.deviceStatus() & Vring.STATUS_DEVICE_NEEDS_RESET) != 0, "status " + device.deviceStatus());
        assertEquals(1, device.configInterrupt().count(), "one configuration change notification");
    }

    @Test
    void resetForgetsQueueSizesAndRingAddresses() {
        GuestBlkDriver guest = new GuestBlkDriver(device, mem, 16, true, true, false, VcpuModel.BARE);
        assertEquals(Vring.STATUS_FEATURES_OK | Vring.STATUS_DRIVER_OK, device.deviceStatus());
        assertEquals(16, device.queueSize(0));
        device.reset();
        assertEquals(0, device.deviceStatus());
        for (int q = 0; q < VCPUS; q++) {
            assertFalse(device.isRunning(q));
            assertEquals(0, device.queueSize(q), "queue " + q + " size after reset");
        }
        device.negotiate(device.offeredFeatures());
        IllegalStateException e = assertThrows(IllegalStateException.class, device::driverOk);
        assertTrue(e.getMessage().contains("queue 0 was not set up"), e.getMessage());
        assertTrue(guest.device() == device);
    }
}
