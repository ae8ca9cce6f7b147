package org.mqblock.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.mqblock.core.loop.IOThread;

/**
 * The guest model's KVM semantics: one interrupt target per virtqueue (MSI-X), ioeventfd kicks
 * that take no global mutex, halt-polling, and the per-request guest cost.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GuestModelSemanticsTest {

    /**
     * A thread that parks until stopped, counting the wakeups its interrupt did not cause: as the
     * target ({@code primary}) or as a standby, which no raise should wake.
     */
    private static final class Parker extends Thread {
        final Interrupt irq;
        final boolean primary;
        final AtomicInteger wakes = new AtomicInteger();
        final AtomicInteger strayWakes = new AtomicInteger();
        final CountDownLatch targeted = new CountDownLatch(1);
        volatile boolean stop;

        Parker(String name, Interrupt irq, boolean primary) {
            super(name);
            this.irq = irq;
            this.primary = primary;
            setDaemon(true);
        }

        @Override
        public void run() {
            irq.target(primary);
            targeted.countDown();
            long seen = irq.count();
            while (!stop) {
                LockSupport.park(this);
                long now = irq.count();
                if (!primary && !stop || now == seen && !stop) {
                    strayWakes.incrementAndGet();
                } else if (now != seen) {
                    wakes.incrementAndGet();
                }
                seen = now;
            }
            irq.untarget();
        }
    }

    @Test
    void anInterruptOnVq1WakesExactlyTheVcpuItTargets() throws Exception {
        Interrupt vq0 = new Interrupt("vq0");
        Interrupt vq1 = new Interrupt("vq1");
        Parker vcpu0 = new Parker("vcpu0", vq0, true);
        Parker vcpu1 = new Parker("vcpu1", vq1, true);
        Parker vcpu2 = new Parker("vcpu2", vq1, false); // shares vq1, as in the single-queue modes
        vcpu0.start();
        vcpu1.start();
        assertTrue(vcpu0.targeted.await(10, TimeUnit.SECONDS) && vcpu1.targeted.await(10, TimeUnit.SECONDS));
        vcpu2.start();
        assertTrue(vcpu2.targeted.await(10, TimeUnit.SECONDS));
        assertSame(vcpu1, vq1.targetThread());
        for (int i = 1; i <= 5; i++) {
            awaitState(vcpu1, Thread.State.WAITING);
            vq1.raise();
            while (vcpu1.wakes.get() < i) { // bounded by the class timeout
                Thread.onSpinWait();
            }
        }
        vq0.raise(); // vcpu0's only wakeup of its own
        while (vcpu0.wakes.get() < 1) {
            Thread.onSpinWait();
        }
        for (Parker p : List.of(vcpu2, vcpu0, vcpu1)) { // the standby leaves first: no hand-over wakes it
            p.stop = true;
            LockSupport.unpark(p);
            p.join();
        }
        assertEquals(0, vcpu0.strayWakes.get(), "vq1's interrupts woke vcpu0");
        assertEquals(0, vcpu2.strayWakes.get(), "vq1's interrupts woke its standby vCPU");
        assertEquals(0, vcpu1.strayWakes.get());
        assertEquals(5, vcpu1.wakes.get());
        assertEquals(1, vcpu0.wakes.get());
    }

    @Test
    void aStandbyTakesTheTargetWhenItsVcpuLeavesAndThePrimaryTakesItBack() throws Exception {
        Interrupt irq = new Interrupt("vq0");
        CountDownLatch standing = new CountDownLatch(1);
        CountDownLatch leave = new CountDownLatch(1);
        Thread standby = new Thread(() -> {
            irq.target(false);
            standing.countDown();
            await(leave);
            irq.untarget();
        }, "vcpu1");
        CountDownLatch primaryIn = new CountDownLatch(1);
        CountDownLatch primaryLeave = new CountDownLatch(1);
        Thread primary = new Thread(() -> {
            irq.target(true);
            primaryIn.countDown();
            await(primaryLeave);
            irq.untarget();
        }, "vcpu0");
        standby.start();
        assertTrue(standing.await(10, TimeUnit.SECONDS));
        assertSame(standby, irq.targetThread(), "the only vCPU on the queue takes it");
        primary.start();
        assertTrue(primaryIn.await(10, TimeUnit.SECONDS));
        assertSame(primary, irq.targetThread(), "the queue's first vCPU takes it back");
        primaryLeave.countDown();
        primary.join();
        assertSame(standby, irq.targetThread(), "completions in flight still find a vCPU");
        leave.countDown();
        standby.join();
        assertEquals(null, irq.targetThread());
    }

    @Test
    void aKickInSqGlobalDoesNotTakeTheGlobalMutexButTheDeviceDoes() throws Exception {
        VirtioBlkRig.Options o = VirtioBlkRig.Options.defaults(VirtioBlkRig.Mode.SQ_GLOBAL, "driver=memory,size=1M", 1)
                .withPin(false).withVcpuModel(VcpuModel.BARE);
        try (VirtioBlkRig rig = VirtioBlkRig.start(o)) {
            ReentrantLock bql = rig.globalMutex();
            GuestBlkDriver.Vcpu v = rig.vcpu(0);
            CountDownLatch kicked = new CountDownLatch(1);
            AtomicLong kicksSeen = new AtomicLong();
            bql.lock(); // the main loop's BQL, held as a long device emulation would hold it
            CompletableFuture<Integer> status;
            try {
                status = CompletableFuture.supplyAsync(() -> {
                    v.bind();
                    try {
                        v.submit(v.freeSlot(), VirtioBlkSpec.T_IN, 0, 4096); // kicks: the first request always does
                        kicksSeen.set(rig.kicks());
                        kicked.countDown();
                        int[] got = new int[1];
                        while (v.inFlight() > 0) {
                            v.awaitCompletions(s -> got[0] = s.status());
                        }
                        return got[0];
                    } finally {
                        v.unbind();
                    }
                }, r -> new Thread(r, "vcpu0").start());
                assertTrue(kicked.await(30, TimeUnit.SECONDS), "the kick waited for the global mutex");
                assertEquals(1, kicksSeen.get());
                while (!bql.hasQueuedThreads()) { // the device's handler, on the main loop, waits for it
                    Thread.onSpinWait();
                }
                assertFalse(status.isDone(), "served without the global mutex");
            } finally {
                bql.unlock();
            }
            assertEquals(VirtioBlkSpec.S_OK, status.get(30, TimeUnit.SECONDS));
        }
    }

    @Test
    void haltPollingOffSleepsAtOnceAndAGrownWindowCatchesTheWakeupWithoutSleeping() throws Exception {
        assertEquals(List.of(1L, 1L), halts(0, 1), "off: the one halt sleeps");
        // 10 s maximum: the window doubles after each halt that slept until it covers the hold,
        // then halts end in the window. Counts: [halts, sleeps] over the last five requests.
        List<Long> last = halts(10_000_000_000L, 30);
        assertEquals(5L, last.get(0));
        assertEquals(0L, last.get(1), "halts that a window of up to 10 s covers still slept");
    }

    /**
     * Runs {@code requests} reads one at a time on a gated disk, each held until its vCPU sleeps or
     * 20 ms passed; returns the halts and sleeps of the last min(5, requests).
     */
    private static List<Long> halts(long haltPollNs, int requests) throws Exception {
        IOThread io = IOThread.start("halt-io", IOThread.UNPINNED);
        GuestMemory mem = GuestMemory.create("guest", 16 << 20, 1L << 32);
        GatedDriver disk = new GatedDriver(1 << 20);
        VirtioBlk device = new VirtioBlk("vblk", disk, mem.addressSpace(), new VirtioBlk.Config(1, 16, true, "vblk"),
                VqMapping.roundRobin(1, 1), List.of(io.context()), null);
        try {
            GuestBlkDriver guest = new GuestBlkDriver(device, mem, 16, true, true, false, new VcpuModel(haltPollNs, 0));
            GuestBlkDriver.Vcpu v = guest.newVcpu(0, mem, 1, 4096);
            Semaphore go = new Semaphore(0);
            Semaphore done = new Semaphore(0);
            long[] before = new long[2];
            Thread vcpu = new Thread(() -> {
                v.bind();
                try {
                    for (int i = 0; i < requests; i++) {
                        go.acquireUninterruptibly();
                        if (i == requests - Math.min(5, requests)) {
                            before[0] = v.halts();
                            before[1] = v.sleeps();
                        }
                        v.submit(v.freeSlot(), VirtioBlkSpec.T_IN, 0, 4096);
                        while (v.inFlight() > 0) {
                            v.awaitCompletions(s -> { });
                        }
                        done.release();
                    }
                } finally {
                    v.unbind();
                }
            }, "vcpu0");
            vcpu.setDaemon(true);
            vcpu.start();
            for (int i = 0; i < requests; i++) {
                disk.hold();
                go.release();
                while (device.node().inFlight() == 0) { // held at the disk: the vCPU halts on it
                    Thread.onSpinWait();
                }
                long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(20);
                while (vcpu.getState() != Thread.State.WAITING && System.nanoTime() < until) {
                    Thread.onSpinWait();
                }
                disk.open();
                assertTrue(done.tryAcquire(30, TimeUnit.SECONDS), "request " + i + " never completed");
            }
            vcpu.join();
            return List.of(v.halts() - before[0], v.sleeps() - before[1]);
        } finally {
            disk.open();
            device.close();
            io.close();
            mem.close();
        }
    }

    @Test
    void eachRequestSpendsItsGuestCostInTheVcpuBeforeItsKick() throws Exception {
        long cost = TimeUnit.MILLISECONDS.toNanos(20);
        VirtioBlkRig.Options o = VirtioBlkRig.Options.defaults(VirtioBlkRig.Mode.SQ_IOTHREAD, "driver=memory,size=1M", 1)
                .withPin(false).withVcpuModel(new VcpuModel(0, cost));
        try (VirtioBlkRig rig = VirtioBlkRig.start(o)) {
            GuestBlkDriver.Vcpu v = rig.vcpu(0);
            long[] spent = new long[2];
            Thread t = new Thread(() -> {
                v.bind();
                try {
                    java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
                    long cpu0 = mx.getCurrentThreadCpuTime();
                    long start = System.nanoTime();
                    for (int i = 0; i < 3; i++) {
                        v.submit(v.freeSlot(), VirtioBlkSpec.T_IN, 4096L * i, 4096);
                    }
                    spent[0] = System.nanoTime() - start;
                    spent[1] = mx.getCurrentThreadCpuTime() - cpu0;
                    while (v.inFlight() > 0) {
                        v.awaitCompletions(s -> { });
                    }
                } finally {
                    v.unbind();
                }
            }, "vcpu0");
            t.start();
            t.join();
            assertTrue(spent[0] >= 3 * cost, "3 submissions took " + spent[0] + " ns, less than 3 x " + cost);
            assertTrue(spent[1] > 0, "the cost is busy work on the vCPU");
        }
    }

    private static void awaitState(Thread t, Thread.State s) {
        while (t.getState() != s) { // bounded by the class timeout
            Thread.onSpinWait();
        }
    }

    private static void await(CountDownLatch l) {
        try {
            l.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
