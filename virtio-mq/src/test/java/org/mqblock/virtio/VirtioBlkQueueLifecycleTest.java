package org.mqblock.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.mqblock.core.loop.FdSignal;
import org.mqblock.core.loop.IOThread;
import org.mqblock.nativeio.EpollMonitor;
import org.mqblock.nativeio.EventFd;

/**
 * The per-queue operations a vhost-user back-end drives, over real eventfds on an epoll IOThread:
 * a queue started alone with a kick fd and a call fd serves a guest in another thread, stops with
 * requests in flight returning the base with nothing lost, restarts there, and survives its call
 * fd being swapped under load.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class VirtioBlkQueueLifecycleTest {

    private static final int SIZE = 16;
    private IOThread io;
    private GuestMemory mem;
    private GatedDriver disk;
    private VirtioBlk device;
    private final List<AutoCloseable> closeLast = new ArrayList<>();

    @BeforeEach
    void start() {
        io = IOThread.start("vq-io", IOThread.UNPINNED, 0, EpollMonitor.FACTORY);
        mem = GuestMemory.create("guest", 16 << 20, 1L << 32);
        disk = new GatedDriver(4 << 20);
        device = new VirtioBlk("vhost-blk", disk, mem.addressSpace(), new VirtioBlk.Config(2, SIZE, true, "vhost-blk"),
                VqMapping.roundRobin(2, 1), List.of(io.context()), null);
        device.negotiate(device.offeredFeatures());
    }

    @AfterEach
    void stop() throws Exception {
        device.close();
        io.close();
        mem.close();
        for (AutoCloseable c : closeLast) {
            c.close();
        }
    }

    private EventFd eventFd() {
        EventFd e = EventFd.create(EventFd.EFD_NONBLOCK | EventFd.EFD_CLOEXEC);
        closeLast.add(e);
        return e;
    }

    private FdGuest guest(long firstBlock) {
        FdGuest g = new FdGuest(mem, SIZE, true, 8, firstBlock);
        closeLast.add(g);
        return g;
    }

    @Test
    void queuesStartedAloneServeGuestsThatOnlyWriteKickFdsAndWaitOnCallFds() throws Exception {
        FdGuest[] guests = {guest(0), guest(64)};
        for (int q = 0; q < 2; q++) {
            EventFd call = eventFd();
            device.setCall(q, call);
            guests[q].addCall(call);
            guests[q].startOn(device, q, 0);
            assertTrue(device.isRunning(q));
            assertEquals(SIZE, device.queueSize(q));
        }
        List<CompletableFuture<Void>> runs = new ArrayList<>();
        for (FdGuest g : guests) {
            runs.add(CompletableFuture.runAsync(() -> g.run(2000), r -> new Thread(r, "guest").start()));
        }
        for (CompletableFuture<Void> r : runs) {
            r.get();
        }
        for (int q = 0; q < 2; q++) {
            assertEquals(2000, guests[q].completed);
            assertEquals(2000, guests[q].usedIdx(), "queue " + q + ": one used element per request");
            assertEquals(2000, device.stopQueue(q), "queue " + q + ": the base is every request popped");
            assertFalse(device.isRunning(q));
            assertTrue(guests[q].kicks > 0 && device.interrupt(q).count() > 0);
        }
        assertEquals(0, io.failureCount(), "the IOThread saw " + io.firstFailure());
    }

    @Test
    void stopWaitsForEveryPoppedRequestReturnsTheBaseAndARestartThereContinues() throws Exception {
        FdGuest g = guest(0);
        EventFd call = eventFd();
        device.setCall(0, call);
        g.addCall(call);
        g.startOn(device, 0, 0);
        disk.hold();
        g.submitUpTo(8);
        while (device.node().inFlight() < 8) { // the class timeout bounds a device that never takes them
            Thread.onSpinWait();
        }
        AtomicInteger usedWhenStopped = new AtomicInteger(-1);
        CompletableFuture<Integer> stopped = CompletableFuture.supplyAsync(() -> {
            int base = device.stopQueue(0);
            usedWhenStopped.set(g.usedIdx());
            return base;
        }, r -> new Thread(r, "main-loop").start());
        while (device.isRunning(0)) {
            Thread.onSpinWait();
        }
        disk.open();
        assertEquals(8, stopped.get());
        assertEquals(8, usedWhenStopped.get(), "stop returned only after all 8 popped requests were used");

        g.reap();
        assertEquals(8, g.completed);
        g.submitUpTo(12); // published (and kicked) while the queue is stopped: nobody takes them
        assertEquals(8, device.stopQueue(0), "a stopped queue pops nothing; stopping again returns the same base");
        g.startOn(device, 0, 8);
        g.run(40);
        assertEquals(40, g.completed);
        assertEquals(40, g.usedIdx(), "each request used exactly once across the restart");
        assertEquals(40, device.stopQueue(0));
        assertEquals(0, io.failureCount(), "the IOThread saw " + io.firstFailure());
    }

    /** An irqfd that notices a write after it was handed back. */
    private static final class WatchedCall implements FdSignal {
        final EventFd fd;
        volatile boolean retired;
        final AtomicInteger writesAfterRetired;

        WatchedCall(EventFd fd, AtomicInteger writesAfterRetired) {
            this.fd = fd;
            this.writesAfterRetired = writesAfterRetired;
        }

        @Override
        public int fd() {
            return fd.fd();
        }

        @Override
        public void signal() {
            if (retired) {
                writesAfterRetired.incrementAndGet();
            }
            fd.signal();
        }

        @Override
        public boolean testAndClear() {
            return fd.testAndClear();
        }
    }

    @Test
    void callFdSwappedUnderLoadIsNeverWrittenAfterTheSwapReturnsAndNoInterruptIsLost() throws Exception {
        FdGuest g = guest(0);
        AtomicInteger late = new AtomicInteger();
        WatchedCall current = new WatchedCall(eventFd(), late);
        device.setCall(0, current);
        g.addCall(current);
        g.startOn(device, 0, 0);
        AtomicReference<Throwable> failed = new AtomicReference<>();
        Thread guestThread = new Thread(() -> {
            try {
                g.run(20_000);
            } catch (Throwable t) {
                failed.set(t);
            }
        }, "guest");
        guestThread.start();
        int swaps = 0;
        while (guestThread.isAlive() && swaps < 400) { // each retired fd stays open to the end: the guest may still look at it
            WatchedCall next = new WatchedCall(eventFd(), late);
            g.addCall(next); // the front-end's guest listens on the new fd before the device may use it
            device.setCall(0, next);
            current.retired = true; // handed back: the device must not write it any more
            if (current.testAndClear()) {
                next.signal(); // what the old fd still held, as a front-end forwards it
            }
            g.removeCall(current);
            current = next;
            swaps++;
            LockSupport.parkNanos(50_000);
        }
        guestThread.join();
        if (failed.get() != null) {
            throw new AssertionError("the guest failed after " + swaps + " swaps", failed.get());
        }
        assertEquals(20_000, g.completed);
        assertEquals(0, late.get(), "writes to a call fd after setCall replaced it (" + swaps + " swaps)");
        assertTrue(swaps > 10, swaps + " swaps");
        device.setCall(0, null);
        assertEquals(20_000, device.stopQueue(0));
    }

    @Test
    void aQueueIndexPastNumQueuesIsRefusedByName() {
        FdGuest g = guest(0);
        for (Runnable op : List.<Runnable>of(
                () -> g.startOn(device, 2, 0),
                () -> device.stopQueue(2),
                () -> device.setCall(2, null),
                () -> device.setErrorSignal(-1, null),
                () -> device.setupQueue(5, SIZE, 0, 0, 0),
                () -> device.isRunning(2))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, op::run);
            assertTrue(e.getMessage().contains("num_queues is 2"), e.getMessage());
        }
    }

    @Test
    void theErrorFdOfEveryQueueIsWrittenOnceWhenTheDeviceBreaks() throws Exception {
        EventFd err0 = eventFd();
        EventFd err1 = eventFd();
        device.setErrorSignal(0, err0);
        device.setErrorSignal(1, err1);
        FdGuest g = guest(0);
        g.startOn(device, 0, 0);
        g.offerRaw(SIZE + 3); // a head outside the table
        while (!device.isBroken()) {
            Thread.sleep(1);
        }
        g.offerRaw(SIZE + 4);
        assertEquals(1, err0.read(), "queue 0's error fd");
        assertEquals(1, err1.read(), "queue 1's error fd: the whole device stopped");
        assertEquals(EventFd.EMPTY, err0.read());
    }
}
