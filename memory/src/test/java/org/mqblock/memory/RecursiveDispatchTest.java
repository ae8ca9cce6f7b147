package org.mqblock.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.BottomHalf;
import org.mqblock.core.loop.IOThread;

/**
 * Recursive MMIO dispatch across AioContexts: release-reacquire never deadlocks, the nested
 * baseline does (and is detected and broken), and the re-entrancy guard refuses A -> A and
 * A -> B -> A across the context hop.
 */
class RecursiveDispatchTest {

    private static final long MMIO_A = 0x1000;
    private static final long MMIO_B = 0x2000;
    private static final ThreadMXBean MX = ManagementFactory.getThreadMXBean();

    /**
     * A device with registers in {@code mmio} and a bottom half, in its own IOThread, that DMAs
     * {@code count} times into {@code peer}'s registers, {@value #BATCH} per run. The first run
     * waits at {@code start} (holding its context) so that both devices begin at once.
     */
    static final class Device {
        static final int BATCH = 64;
        final String name;
        final IOThread io;
        final ReentrancyGuard guard;
        final AtomicLong handled = new AtomicLong();
        /** Handler runs in which some other device's context was also held by the thread. */
        final AtomicLong heldTwo = new AtomicLong();
        /** Handler runs that happened while this device's own DMA was in flight (its context released). */
        final AtomicLong enteredMidDma = new AtomicLong();
        /** Written by the device's thread around its DMA; read by handlers on other threads. */
        volatile boolean inDma;
        final Queue<Throwable> errors = new ConcurrentLinkedQueue<>();
        final CountDownLatch done = new CountDownLatch(1);
        final AtomicReference<Thread> thread = new AtomicReference<>();
        MmioRegion mmio;
        long base;
        Dma dma;
        Device peer;
        long count;
        long issued;
        CyclicBarrier start;
        BottomHalf bh;

        Device(String name) {
            this.name = name;
            this.io = IOThread.start("io-" + name, IOThread.UNPINNED);
            this.guard = new ReentrancyGuard(name);
        }

        AioContext ctx() {
            return io.context();
        }

        void wire(AddressSpace as, long base, DispatchPolicy policy) {
            mmio = new MmioRegion("mmio-" + name, 0x100, ctx(), guard, new MmioOps() {
                @Override
                public long read(long offset, int size) {
                    return handled.get();
                }

                @Override
                public void write(long offset, long value, int size) {
                    if (!ctx().isHeldByCurrentThread() || (peer != null && peer.ctx().isHeldByCurrentThread()
                            && policy == DispatchPolicy.RELEASE_REACQUIRE)) {
                        heldTwo.incrementAndGet();
                    }
                    if (inDma) {
                        enteredMidDma.incrementAndGet();
                    }
                    handled.incrementAndGet();
                }
            });
            as.map(base, mmio);
            this.base = base;
            dma = new Dma(as, ctx(), guard, policy);
        }

        void startDmaLoop(long count, CyclicBarrier start) {
            this.count = count;
            this.start = start;
            bh = ctx().newBottomHalf("dma-" + name, guard.guarded(this::run));
            bh.schedule();
        }

        private void run() {
            try {
                if (issued == 0) {
                    thread.set(Thread.currentThread());
                    start.await(30, TimeUnit.SECONDS);
                }
                for (int i = 0; i < BATCH && issued < count; i++) {
                    inDma = true;
                    try {
                        dma.writeU32(peer.base, (int) issued);
                    } finally {
                        inDma = false;
                    }
                    issued++;
                }
            } catch (Throwable t) {
                errors.add(t);
                Thread.interrupted(); // never return to the loop with the flag set
                done.countDown();
                return;
            }
            if (issued < count) {
                bh.schedule();
            } else {
                done.countDown();
            }
        }

        void close() {
            if (bh != null) {
                bh.delete();
            }
            io.close();
        }
    }

    /**
     * Two devices on two IOThreads, each DMA-ing into the other's registers from a bottom half,
     * 10^5 cross accesses in all, starting together: every access completes (exact handler
     * counts), the MXBean never reports a deadlock, no handler ever runs with both contexts held,
     * and the guards refuse nothing (a concurrent entry from another thread is not re-entrancy).
     */
    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void crossDmaBetweenTwoIOThreadsNeverDeadlocksUnderReleaseReacquire() throws Exception {
        long perDevice = 50_000L * Stress.scale();
        AddressSpace as = new AddressSpace("sys");
        Device a = new Device("A");
        Device b = new Device("B");
        try {
            a.wire(as, MMIO_A, DispatchPolicy.RELEASE_REACQUIRE);
            b.wire(as, MMIO_B, DispatchPolicy.RELEASE_REACQUIRE);
            a.peer = b;
            b.peer = a;
            CyclicBarrier start = new CyclicBarrier(2);
            a.startDmaLoop(perDevice, start);
            b.startDmaLoop(perDevice, start);

            long[] deadlocked = null;
            while (a.done.getCount() + b.done.getCount() > 0 && deadlocked == null) {
                a.done.await(20, TimeUnit.MILLISECONDS);
                deadlocked = MX.findDeadlockedThreads();
            }
            assertNull(deadlocked, "threads deadlocked: " + Arrays.toString(deadlocked));
            // Entries while the device's own DMA was in flight: the situation NESTED deadlocks on.
            System.out.println("release-reacquire: " + 2 * perDevice + " cross DMAs; handler entered while its device's"
                    + " own DMA was in flight: A " + a.enteredMidDma.get() + ", B " + b.enteredMidDma.get());
            assertTrue(a.errors.isEmpty(), () -> "A failed: " + a.errors);
            assertTrue(b.errors.isEmpty(), () -> "B failed: " + b.errors);
            assertEquals(perDevice, b.handled.get(), "B's handler ran once per DMA of A");
            assertEquals(perDevice, a.handled.get(), "A's handler ran once per DMA of B");
            assertEquals(perDevice, a.dma.crossContextDispatchCount());
            assertEquals(perDevice, b.dma.crossContextDispatchCount());
            assertEquals(0, a.heldTwo.get() + b.heldTwo.get(), "a handler ran holding two contexts");
            assertEquals(0, a.guard.refusedCount() + b.guard.refusedCount());
            assertEquals(0, a.io.failureCount() + b.io.failureCount());
        } finally {
            a.close();
            b.close();
        }
    }

    /**
     * The same two devices with NESTED dispatch deadlock on their first cross access: each holds
     * its context and waits for the other's. The MXBean reports both IOThreads; interrupting one
     * makes its access fail with INTERRUPTED (flag consumed), which breaks the cycle: the other
     * completes and both IOThreads keep running.
     */
    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void nestedDispatchDeadlocksAndIsDetectedAndBrokenByInterrupt() throws Exception {
        AddressSpace as = new AddressSpace("sys");
        Device a = new Device("A");
        Device b = new Device("B");
        try {
            a.wire(as, MMIO_A, DispatchPolicy.NESTED);
            b.wire(as, MMIO_B, DispatchPolicy.NESTED);
            a.peer = b;
            b.peer = a;
            CyclicBarrier start = new CyclicBarrier(2);
            a.startDmaLoop(1_000, start);
            b.startDmaLoop(1_000, start);

            long[] deadlocked = null;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (deadlocked == null && System.nanoTime() - deadline < 0) {
                Thread.sleep(10);
                deadlocked = MX.findDeadlockedThreads();
            }
            assertNotNull(deadlocked, "NESTED dispatch did not deadlock");
            Thread ta = a.thread.get();
            Thread tb = b.thread.get();
            assertTrue(contains(deadlocked, ta.getId()) && contains(deadlocked, tb.getId()),
                    "deadlocked " + Arrays.toString(deadlocked) + ", IOThreads " + ta.getId() + ", " + tb.getId());
            assertEquals(0, a.handled.get() + b.handled.get(), "no access got through");
            System.out.println("NESTED deadlock detected between " + ta.getName() + " and " + tb.getName()
                    + "; interrupting " + ta.getName());

            ta.interrupt();
            assertTrue(a.done.await(30, TimeUnit.SECONDS));
            assertTrue(b.done.await(30, TimeUnit.SECONDS), "B completes once A let go of its context");
            MemoryAccessException e = (MemoryAccessException) a.errors.peek();
            assertNotNull(e, "A's access failed");
            assertEquals(MemoryAccessException.Kind.INTERRUPTED, e.kind());
            assertTrue(e.getMessage().contains("interrupted waiting for AioContext 'io-B'")
                    && e.getMessage().contains("holding AioContext 'io-A'"), e.getMessage());
            assertTrue(b.errors.isEmpty(), () -> "B failed: " + b.errors);
            assertEquals(1_000, a.handled.get(), "all of B's accesses reached A after the break");
            assertNull(MX.findDeadlockedThreads());

            CountDownLatch alive = new CountDownLatch(2);
            a.ctx().schedule(() -> {
                if (!Thread.currentThread().isInterrupted()) {
                    alive.countDown();
                }
            });
            b.ctx().schedule(alive::countDown);
            assertTrue(alive.await(30, TimeUnit.SECONDS), "both IOThreads still run their loops");
            assertEquals(0, a.io.failureCount() + b.io.failureCount());
        } finally {
            a.close();
            b.close();
        }
    }

    private static boolean contains(long[] ids, long id) {
        return Arrays.stream(ids).anyMatch(x -> x == id);
    }

    /**
     * While the foreign handler runs, the caller's context is free (another thread takes it);
     * afterwards the caller holds it again at its old recursion depth.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void releaseReacquireFreesTheCallersContextAndRestoresItsDepth() throws Exception {
        try (AioContext ctxA = new AioContext("A"); AioContext ctxB = new AioContext("B")) {
            AddressSpace as = new AddressSpace("sys");
            AtomicBoolean callerHeldDuringHandler = new AtomicBoolean(true);
            AtomicBoolean ownerHeldDuringHandler = new AtomicBoolean();
            AtomicBoolean otherThreadTookCaller = new AtomicBoolean();
            as.map(MMIO_B, new MmioRegion("mmio-b", 0x100, ctxB, new ReentrancyGuard("B"), TestSupport.writeOnly((off, v) -> {
                callerHeldDuringHandler.set(ctxA.isHeldByCurrentThread());
                ownerHeldDuringHandler.set(ctxB.isHeldByCurrentThread());
                Thread other = new Thread(() -> {
                    ctxA.acquire();
                    otherThreadTookCaller.set(true);
                    ctxA.release();
                });
                other.start();
                join(other);
            })));
            Dma dma = new Dma(as, ctxA, new ReentrancyGuard("A"), DispatchPolicy.RELEASE_REACQUIRE);
            ctxA.acquire();
            ctxA.acquire();
            ctxA.acquire();
            dma.writeU32(MMIO_B, 1);
            assertFalse(callerHeldDuringHandler.get(), "the caller's context was released");
            assertTrue(ownerHeldDuringHandler.get());
            assertTrue(otherThreadTookCaller.get());
            assertEquals(3, ctxA.releaseAll(), "re-acquired at the same depth");
            assertFalse(ctxB.isHeldByCurrentThread());
        }
    }

    @Test
    void nestedDispatchKeepsTheCallersContextHeld() throws Exception {
        try (AioContext ctxA = new AioContext("A"); AioContext ctxB = new AioContext("B")) {
            AddressSpace as = new AddressSpace("sys");
            AtomicBoolean callerHeld = new AtomicBoolean();
            as.map(MMIO_B, new MmioRegion("mmio-b", 0x100, ctxB, null,
                    TestSupport.writeOnly((off, v) -> callerHeld.set(ctxA.isHeldByCurrentThread()))));
            Dma dma = new Dma(as, ctxA, null, DispatchPolicy.NESTED);
            ctxA.acquire();
            dma.writeU16(MMIO_B + 2, 7);
            assertTrue(callerHeld.get());
            assertEquals(1, ctxA.releaseAll());
        }
    }

    @Test
    void deviceDmaIntoItsOwnRegistersIsRefusedAndCounted() throws Exception {
        try (AioContext ctxA = new AioContext("A")) {
            AddressSpace as = new AddressSpace("sys");
            ReentrancyGuard guardA = new ReentrancyGuard("A");
            AtomicInteger handled = new AtomicInteger();
            as.map(MMIO_A, new MmioRegion("mmio-a", 0x100, ctxA, guardA, TestSupport.writeOnly((off, v) -> handled.incrementAndGet())));
            Dma dma = new Dma(as, ctxA, guardA, DispatchPolicy.RELEASE_REACQUIRE);
            ctxA.acquire();
            try {
                MemoryAccessException e = assertThrows(MemoryAccessException.class, () -> dma.writeU32(MMIO_A + 4, 1));
                assertEquals(MemoryAccessException.Kind.REENTRANT, e.kind());
                assertEquals("re-entrant MMIO access refused: A -> A (write 0x1004+4 to region 'mmio-a' of device 'A', "
                        + "whose I/O is already under way on this thread)", e.getMessage());
                assertThrows(MemoryAccessException.class, () -> dma.readU8(MMIO_A));
                assertTrue(ctxA.isHeldByCurrentThread());
            } finally {
                ctxA.release();
            }
            assertEquals(0, handled.get());
            assertEquals(2, guardA.refusedCount());
            assertEquals(2, dma.refusedCount());
            assertFalse(guardA.isEngaged(), "the chain unwound");
        }
    }

    /**
     * A's bottom half (guarded) DMAs into B's registers on another IOThread; B's handler DMAs
     * back into A. The hop runs B's handler on A's thread, so A is on that thread's chain and the
     * access is refused, naming A -> B -> A; A's handler never runs.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void roundTripThroughAnotherDeviceIsRefusedAcrossTheContextHop() throws Exception {
        AddressSpace as = new AddressSpace("sys");
        ReentrancyGuard guardA = new ReentrancyGuard("A");
        ReentrancyGuard guardB = new ReentrancyGuard("B");
        try (IOThread ioA = IOThread.start("io-A", IOThread.UNPINNED); IOThread ioB = IOThread.start("io-B", IOThread.UNPINNED)) {
            AtomicInteger aHandled = new AtomicInteger();
            AtomicReference<Thread> bHandlerThread = new AtomicReference<>();
            AtomicReference<MemoryAccessException> refused = new AtomicReference<>();
            AtomicBoolean aHeldInB = new AtomicBoolean(true);
            Dma dmaB = new Dma(as, ioB.context(), guardB, DispatchPolicy.RELEASE_REACQUIRE);
            as.map(MMIO_A, new MmioRegion("mmio-a", 0x100, ioA.context(), guardA, TestSupport.writeOnly((off, v) -> aHandled.incrementAndGet())));
            as.map(MMIO_B, new MmioRegion("mmio-b", 0x100, ioB.context(), guardB, TestSupport.writeOnly((off, v) -> {
                bHandlerThread.set(Thread.currentThread());
                aHeldInB.set(ioA.context().isHeldByCurrentThread());
                try {
                    dmaB.writeU32(MMIO_A, 2); // B's handler DMAs back into A
                } catch (MemoryAccessException e) {
                    refused.set(e); // the device sees an access error (MEMTX_ACCESS_ERROR) and goes on
                }
            })));
            Dma dmaA = new Dma(as, ioA.context(), guardA, DispatchPolicy.RELEASE_REACQUIRE);
            AtomicReference<Thread> aThread = new AtomicReference<>();
            CountDownLatch done = new CountDownLatch(1);
            ioA.context().schedule(guardA.guarded(() -> {
                aThread.set(Thread.currentThread());
                dmaA.writeU32(MMIO_B, 1);
                done.countDown();
            }));
            assertTrue(done.await(30, TimeUnit.SECONDS));
            assertSame(aThread.get(), bHandlerThread.get(), "B's handler ran on A's thread: the hop keeps the thread");
            assertFalse(aHeldInB.get(), "A's context was released during B's handler");
            MemoryAccessException e = refused.get();
            assertNotNull(e);
            assertEquals(MemoryAccessException.Kind.REENTRANT, e.kind());
            assertTrue(e.getMessage().startsWith("re-entrant MMIO access refused: A -> B -> A (write 0x1000+4 to region 'mmio-a'"),
                    e.getMessage());
            assertEquals(0, aHandled.get());
            assertEquals(1, guardA.refusedCount());
            assertEquals(1, dmaB.refusedCount());
            assertEquals(0, guardB.refusedCount());
        }
    }

    /** A -> B -> C -> A through three contexts on one thread; each hop releases the previous context. */
    @Test
    void longerCyclesAreRefusedWithTheWholeChain() throws Exception {
        try (AioContext ca = new AioContext("A"); AioContext cb = new AioContext("B"); AioContext cc = new AioContext("C")) {
            AddressSpace as = new AddressSpace("sys");
            ReentrancyGuard ga = new ReentrancyGuard("A");
            ReentrancyGuard gb = new ReentrancyGuard("B");
            ReentrancyGuard gc = new ReentrancyGuard("C");
            Dma da = new Dma(as, ca, ga, DispatchPolicy.RELEASE_REACQUIRE);
            Dma db = new Dma(as, cb, gb, DispatchPolicy.RELEASE_REACQUIRE);
            Dma dc = new Dma(as, cc, gc, DispatchPolicy.RELEASE_REACQUIRE);
            AtomicInteger heldInC = new AtomicInteger();
            as.map(0x1000, new MmioRegion("a", 0x100, ca, ga, TestSupport.writeOnly((o, v) -> { })));
            as.map(0x2000, new MmioRegion("b", 0x100, cb, gb, TestSupport.writeOnly((o, v) -> db.writeU8(0x3000, 1))));
            as.map(0x3000, new MmioRegion("c", 0x100, cc, gc, TestSupport.writeOnly((o, v) -> {
                heldInC.set((ca.isHeldByCurrentThread() ? 1 : 0) + (cb.isHeldByCurrentThread() ? 1 : 0)
                        + (cc.isHeldByCurrentThread() ? 1 : 0));
                dc.writeU8(0x1000, 1);
            })));
            ca.acquire();
            MemoryAccessException e = assertThrows(MemoryAccessException.class, () -> da.writeU8(0x2000, 1));
            assertTrue(e.getMessage().startsWith("re-entrant MMIO access refused: A -> B -> C -> A"), e.getMessage());
            assertEquals(1, heldInC.get(), "C's handler held exactly one context: C's");
            assertEquals(1, ca.releaseAll(), "the exception unwound every hop back to A at depth 1");
            assertFalse(cb.isHeldByCurrentThread() || cc.isHeldByCurrentThread());
            assertEquals(1, ga.refusedCount());
        }
    }

    /** A vCPU write to A's register whose handler DMAs into A itself: A -> A. A guarded BH engages the guard. */
    @Test
    void guardIsEngagedInHandlersAndGuardedBottomHalvesOnly() throws Exception {
        try (AioContext ca = new AioContext("A")) {
            AddressSpace as = new AddressSpace("sys");
            ReentrancyGuard ga = new ReentrancyGuard("A");
            Dma da = new Dma(as, ca, ga, DispatchPolicy.RELEASE_REACQUIRE);
            AtomicReference<String> inHandler = new AtomicReference<>();
            AtomicBoolean engagedInHandler = new AtomicBoolean();
            as.map(0x1000, new MmioRegion("a", 0x100, ca, ga, TestSupport.writeOnly((o, v) -> {
                engagedInHandler.set(ga.isEngaged());
                if (v == 1) {
                    try {
                        da.writeU32(0x1008, 2);
                    } catch (MemoryAccessException e) {
                        inHandler.set(e.getMessage());
                    }
                }
            })));
            assertFalse(ga.isEngaged());
            Dma.forCpu(as).writeU32(0x1000, 1);
            assertTrue(engagedInHandler.get());
            assertTrue(inHandler.get().startsWith("re-entrant MMIO access refused: A -> A"), inHandler.get());
            AtomicBoolean engagedInBh = new AtomicBoolean();
            ga.run(() -> engagedInBh.set(ga.isEngaged()));
            assertTrue(engagedInBh.get());
            assertFalse(ga.isEngaged());
        }
    }

    static void join(Thread t) {
        try {
            t.join(TimeUnit.SECONDS.toMillis(30));
        } catch (InterruptedException e) {
            throw new IllegalStateException(e);
        }
        if (t.isAlive()) {
            throw new AssertionError(t.getName() + " did not finish");
        }
    }
}
