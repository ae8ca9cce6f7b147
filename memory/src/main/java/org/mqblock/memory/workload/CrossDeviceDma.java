package org.mqblock.memory.workload;

import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.BottomHalf;
import org.mqblock.core.loop.IOThread;
import org.mqblock.memory.AddressSpace;
import org.mqblock.memory.DispatchPolicy;
import org.mqblock.memory.Dma;
import org.mqblock.memory.MemoryAccessException;
import org.mqblock.memory.MmioOps;
import org.mqblock.memory.MmioRegion;
import org.mqblock.memory.ReentrancyGuard;

/**
 * Two devices, each in its own IOThread, DMA into each other's registers for a fixed time under
 * one {@link DispatchPolicy}: the workload of figure F6. A run watches the JVM's deadlock
 * detector; a deadlock it finds is broken by interrupting one device's thread (a NESTED wait is
 * interruptible), so a caller can run again with no thread left stuck.
 */
public final class CrossDeviceDma {

    private static final ThreadMXBean MX = ManagementFactory.getThreadMXBean();
    private static final long MMIO_A = 0x1000;
    private static final long MMIO_B = 0x2000;
    private static final long POLL_MS = 20;

    private CrossDeviceDma() {}

    /** What one run measured. */
    public record Run(double seconds, long completed, boolean deadlocked, long detectedAfterMs, long refusals, long midDma,
               int stuck) {}

    /**
     * Runs the two devices for {@code windowMs} under {@code policy}; stops early when the deadlock
     * detector reports both IOThreads. Context: the main thread (the sweep's).
     */
    public static Run run(DispatchPolicy policy, long windowMs, PrintStream log) throws InterruptedException {
        AddressSpace as = new AddressSpace("cross-dma-sys");
        Device a = new Device("A");
        Device b = new Device("B");
        a.wire(as, MMIO_A, policy);
        b.wire(as, MMIO_B, policy);
        a.peer = b;
        b.peer = a;
        CyclicBarrier start = new CyclicBarrier(3);
        a.start(start);
        b.start(start);
        try {
            start.await(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("the devices did not start: " + e, e);
        }
        long t0 = System.nanoTime();
        long deadline = t0 + TimeUnit.MILLISECONDS.toNanos(windowMs);
        boolean deadlocked = false;
        while (System.nanoTime() - deadline < 0) {
            Thread.sleep(POLL_MS);
            long[] ids = MX.findDeadlockedThreads();
            if (ids != null && contains(ids, a.thread.get()) && contains(ids, b.thread.get())) {
                deadlocked = true;
                break;
            }
        }
        long elapsed = System.nanoTime() - t0;
        long completed = a.handled.get() + b.handled.get(); // counted before the break lets queued ones through
        a.stop = true;
        b.stop = true;
        if (deadlocked) {
            a.thread.get().interrupt(); // A's NESTED wait fails with INTERRUPTED; B then gets A's context
        }
        int stuck = 0;
        if (!a.done.await(10, TimeUnit.SECONDS) || !b.done.await(10, TimeUnit.SECONDS)) {
            for (Device d : List.of(a, b)) {
                if (d.done.getCount() > 0) {
                    d.thread.get().interrupt();
                }
            }
            a.done.await(10, TimeUnit.SECONDS);
            b.done.await(10, TimeUnit.SECONDS);
        }
        for (Device d : List.of(a, b)) {
            if (d.done.getCount() > 0) {
                stuck++; // a daemon thread: leave it rather than hang the sweep in IOThread.stop's join
                log.println("device " + d.name + ": its IOThread did not finish; left running (daemon)");
            } else {
                d.close();
            }
            Throwable e = d.error.get();
            boolean expected = deadlocked && e instanceof MemoryAccessException m
                    && m.kind() == MemoryAccessException.Kind.INTERRUPTED;
            if (e != null && !expected) {
                throw new IllegalStateException("device " + d.name + " failed under " + policy + ": " + e, e);
            }
        }
        long refusals = a.guard.refusedCount() + b.guard.refusedCount();
        return new Run(elapsed / 1e9, completed, deadlocked, deadlocked ? TimeUnit.NANOSECONDS.toMillis(elapsed) : 0,
                refusals, a.midDma.get() + b.midDma.get(), stuck);
    }

    private static boolean contains(long[] ids, Thread t) {
        return t != null && Arrays.stream(ids).anyMatch(x -> x == t.getId());
    }

    /**
     * A device with registers and a guarded bottom half in its own IOThread; the bottom half DMAs
     * {@value #BATCH} register writes into the peer's MMIO per run and reschedules itself until
     * told to stop.
     */
    static final class Device {
        static final int BATCH = 64;
        final String name;
        final IOThread io;
        final ReentrancyGuard guard;
        /** Writes into this device's registers that completed; incremented by the handler's thread (atomic). */
        final AtomicLong handled = new AtomicLong();
        /** Handler runs while this device's own DMA was in flight (its context released); atomic. */
        final AtomicLong midDma = new AtomicLong();
        /** Written by the device's IOThread around each DMA; read by handlers on the peer's thread. */
        volatile boolean inDma;
        /** Written by the main thread to end the run; read by the bottom half. */
        volatile boolean stop;
        /** The first failure of the bottom half; set by the device's IOThread, read by the main thread after done. */
        final AtomicReference<Throwable> error = new AtomicReference<>();
        /** The IOThread's thread, set by it on its first run; read by the main thread. */
        final AtomicReference<Thread> thread = new AtomicReference<>();
        final CountDownLatch done = new CountDownLatch(1);
        // Set by the main thread before the first schedule (which publishes them); then read-only.
        Dma dma;
        long base;
        Device peer;
        CyclicBarrier start;
        BottomHalf bh;
        /** Whether the bottom half passed the start barrier; IOThread only. */
        boolean started;

        Device(String name) {
            this.name = name;
            this.io = IOThread.start("cross-dma-io-" + name, IOThread.UNPINNED);
            this.guard = new ReentrancyGuard(name);
        }

        AioContext ctx() {
            return io.context();
        }

        void wire(AddressSpace as, long base, DispatchPolicy policy) {
            as.map(base, new MmioRegion("mmio-" + name, 0x100, ctx(), guard, new MmioOps() {
                @Override
                public long read(long offset, int size) {
                    return handled.get();
                }

                @Override
                public void write(long offset, long value, int size) {
                    if (inDma) {
                        midDma.incrementAndGet();
                    }
                    handled.incrementAndGet();
                }
            }));
            this.base = base;
            this.dma = new Dma(as, ctx(), guard, policy);
        }

        void start(CyclicBarrier barrier) {
            this.start = barrier;
            bh = ctx().newBottomHalf("cross-dma-" + name, guard.guarded(this::run));
            bh.schedule();
        }

        /** Context: this device's IOThread, holding its context. */
        private void run() {
            try {
                if (!started) {
                    thread.set(Thread.currentThread());
                    started = true;
                    start.await(30, TimeUnit.SECONDS); // holding our context, as in the deadlock
                }
                for (int i = 0; i < BATCH && !stop; i++) {
                    inDma = true;
                    try {
                        dma.writeU32(peer.base, i);
                    } finally {
                        inDma = false;
                    }
                }
            } catch (Throwable t) {
                error.compareAndSet(null, t);
                Thread.interrupted(); // never return to the loop with the flag set
                done.countDown();
                return;
            }
            if (stop) {
                done.countDown();
            } else {
                bh.schedule();
            }
        }

        void close() {
            bh.delete();
            io.close();
        }
    }
}
