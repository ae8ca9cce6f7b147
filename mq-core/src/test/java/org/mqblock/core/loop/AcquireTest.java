package org.mqblock.core.loop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** aio_context_acquire/release: recursive, excludes handlers, and never waits on a sleeping loop. */
class AcquireTest {

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void foreignAcquireReturnsWhileTheLoopBlocks() throws Exception {
        try (IOThread io = IOThread.start("blocked", IOThread.UNPINNED, 0)) {
            AioContext ctx = io.context();
            for (int i = 0; i < 100; i++) {
                WakeupTest.awaitParked(io); // poll(true) with nothing to do: sleeps forever
                ctx.acquire();
                assertTrue(ctx.isHeldByCurrentThread());
                ctx.release();
            }
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void foreignAcquireKicksABusyPollingLoop() throws Exception {
        // A source that never has work and a 1 s window: the loop spins up to a second per poll,
        // holding the context. 200 acquires would take minutes if acquire() did not kick it out.
        long second = TimeUnit.SECONDS.toNanos(1);
        try (IOThread io = IOThread.start("spinning", IOThread.UNPINNED, second)) {
            AioContext ctx = io.context();
            ctx.setPollParams(second, 1_000_000, 0);
            EventNotifier n = new EventNotifier("idle-source");
            ctx.acquire();
            ctx.setEventNotifier(n, false, () -> {}, () -> false);
            ctx.pollWindow().adjust(second / 2); // 0 -> 4 us
            ctx.pollWindow().adjust(second / 2); // -> 1 s (grow 10^6, capped)
            ctx.release();
            n.set(); // wake the loop: from now on it spins
            for (int i = 0; i < 200; i++) {
                ctx.acquire();
                ctx.release();
            }
            assertEquals(second, ctx.pollWindow().ns(), "the loop was polling with the full window");
            ctx.acquire();
            ctx.removeEventNotifier(n);
            ctx.release();
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void handlersDoNotRunWhileAnotherThreadHoldsTheContext() throws Exception {
        try (IOThread io = IOThread.start("excluded", IOThread.UNPINNED)) {
            AioContext ctx = io.context();
            AtomicBoolean holding = new AtomicBoolean();
            AtomicInteger ranWhileHeld = new AtomicInteger();
            AtomicInteger ran = new AtomicInteger();
            for (int round = 0; round < 1_000; round++) {
                ctx.acquire();
                holding.set(true);
                ctx.schedule(() -> {
                    if (holding.get()) {
                        ranWhileHeld.incrementAndGet();
                    }
                    ran.incrementAndGet();
                });
                Thread.onSpinWait();
                holding.set(false);
                ctx.release();
            }
            CountDownLatch done = new CountDownLatch(1);
            ctx.schedule(done::countDown);
            done.await();
            assertEquals(1_000, ran.get());
            assertEquals(0, ranWhileHeld.get());
        }
    }

    @Test
    void acquireIsRecursiveAndReleaseAllRestoresTheDepth() throws Exception {
        AioContext ctx = new AioContext("recursive");
        ctx.acquire();
        ctx.acquire();
        ctx.acquire();
        int depth = ctx.releaseAll();
        assertEquals(3, depth);
        assertFalse(ctx.isHeldByCurrentThread());
        AtomicBoolean otherGotIt = new AtomicBoolean();
        Thread other = new Thread(() -> {
            ctx.acquire();
            otherGotIt.set(true);
            ctx.release();
        });
        other.start();
        other.join();
        assertTrue(otherGotIt.get(), "fully released: another thread could take it");
        ctx.reacquire(depth);
        ctx.release();
        ctx.release();
        assertTrue(ctx.isHeldByCurrentThread(), "one level left of three");
        ctx.release();
        assertFalse(ctx.isHeldByCurrentThread());
        ctx.close();
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void interruptibleAcquireBacksOutOfAContendedContext() throws Exception {
        AioContext ctx = new AioContext("contended");
        ctx.acquire();
        Throwable[] seen = new Throwable[1];
        Thread waiter = new Thread(() -> {
            try {
                ctx.acquireInterruptibly();
                ctx.release();
            } catch (Throwable t) {
                seen[0] = t;
            }
        });
        waiter.start();
        while (waiter.getState() != Thread.State.WAITING) {
            Thread.sleep(1);
        }
        waiter.interrupt();
        waiter.join();
        assertTrue(seen[0] instanceof InterruptedException, String.valueOf(seen[0]));
        ctx.release();
        ctx.close();
    }
}
