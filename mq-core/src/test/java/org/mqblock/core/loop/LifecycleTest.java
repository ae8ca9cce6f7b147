package org.mqblock.core.loop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Stopping and closing without losing scheduled work, and faults that stay with their handler. */
class LifecycleTest {

    /**
     * The one-shot lands in the queue after the poll's last slice was taken; a stop that only
     * flipped a flag let the loop exit before the next poll, and close then failed on it.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void stopRunsWhatWasScheduledBeforeIt() throws Exception {
        IOThread io = IOThread.start("stop-order", IOThread.UNPINNED, 0);
        AioContext ctx = io.context();
        CountDownLatch inSecondSlice = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger ran = new AtomicInteger();
        ctx.schedule(() -> ctx.schedule(() -> { // the inner one runs in the poll's second slice
            inSecondSlice.countDown();
            await(release);
        }));
        inSecondSlice.await();
        ctx.schedule(ran::incrementAndGet); // runs in the next poll, if there is one
        Thread stopper = new Thread(io::stop, "stopper");
        stopper.start();
        while (stopper.getState() != Thread.State.WAITING) { // in join(), the stop requested
            Thread.sleep(1);
        }
        release.countDown();
        stopper.join();
        assertEquals(1, ran.get(), "the one-shot scheduled before stop() ran");
        ctx.close(); // nothing left alive
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void stopWhileHoldingTheContextIsRefusedNotAHang() {
        try (IOThread io = IOThread.start("held", IOThread.UNPINNED)) {
            io.context().acquire();
            try {
                IllegalStateException e = assertThrows(IllegalStateException.class, io::stop);
                assertTrue(e.getMessage().contains("holds its context"), e.getMessage());
            } finally {
                io.context().release();
            }
            assertTrue(io.isRunning());
        }
    }

    /**
     * Every schedule that returns normally runs, or makes close() fail: a scheduler hammering a
     * context while it closes counts its normal returns, the loop counts what ran, and they agree
     * once close succeeds. Check-then-enqueue (or a close that mistook a half-linked tail for an
     * empty queue) loses some.
     */
    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void aScheduleThatReturnsRunsOrMakesCloseFail() throws Exception {
        for (int round = 0; round < 2000; round++) {
            AioContext ctx = new AioContext("closing-" + round);
            AtomicInteger ran = new AtomicInteger();
            AtomicInteger returned = new AtomicInteger();
            AtomicReference<Throwable> unexpected = new AtomicReference<>();
            CountDownLatch started = new CountDownLatch(1);
            Runnable task = ran::incrementAndGet;
            Thread scheduler = new Thread(() -> {
                started.countDown();
                java.util.concurrent.ThreadLocalRandom rnd = java.util.concurrent.ThreadLocalRandom.current();
                try {
                    while (true) {
                        ctx.schedule(task);
                        returned.incrementAndGet();
                        for (int i = rnd.nextInt(256); i > 0; i--) {
                            Thread.onSpinWait(); // leave moments with nothing queued, so closes succeed mid-stream
                        }
                    }
                } catch (IllegalStateException closed) {
                    if (!closed.getMessage().contains("closed")) {
                        unexpected.set(closed);
                    }
                } catch (Throwable t) {
                    unexpected.set(t);
                }
            }, "scheduler");
            scheduler.start();
            started.await();
            int failedCloses = 0;
            while (true) {
                try {
                    ctx.close();
                    break;
                } catch (IllegalStateException live) {
                    assertTrue(live.getMessage().contains("scheduled, not run"), live.getMessage());
                    failedCloses++;
                    ctx.poll(false); // run them, then try again
                }
            }
            scheduler.join();
            assertNull(unexpected.get());
            assertEquals(returned.get(), ran.get(),
                    "round " + round + ": schedules that returned vs ran (" + failedCloses + " failed closes)");
        }
    }

    /** An Error in one fd handler closes that watch only; the IOThread serves the other one. */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void anErrorInOneHandlerEndsItsOwnerAndTheLoopServesTheOthers() throws Exception {
        try (IOThread io = IOThread.start("faults", IOThread.UNPINNED)) {
            AioContext ctx = io.context();
            Pipe bad = Pipe.open();
            Pipe good = Pipe.open();
            AtomicReference<Throwable> toldOwner = new AtomicReference<>();
            AtomicInteger goodReads = new AtomicInteger();
            CountDownLatch ownerTold = new CountDownLatch(1);
            FdWatch[] watches = new FdWatch[2];
            ctx.acquire();
            try {
                watches[0] = ctx.watchChannel(bad.source(), true, () -> {
                    throw new OutOfMemoryError("one connection's buffers");
                }, null);
                watches[0].setFailureHandler(t -> {
                    toldOwner.set(t);
                    watches[0].close();
                    ownerTold.countDown();
                });
                ByteBuffer buf = ByteBuffer.allocate(64);
                watches[1] = ctx.watchChannel(good.source(), true, () -> {
                    try {
                        buf.clear();
                        goodReads.addAndGet(good.source().read(buf));
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }, null);
            } finally {
                ctx.release();
            }
            bad.sink().write(ByteBuffer.wrap(new byte[] {1}));
            ownerTold.await();
            assertTrue(toldOwner.get() instanceof OutOfMemoryError);
            for (int i = 0; i < 100; i++) {
                good.sink().write(ByteBuffer.wrap(new byte[] {2}));
            }
            while (goodReads.get() < 100) {
                Thread.sleep(1);
            }
            CountDownLatch bhRan = new CountDownLatch(1);
            ctx.schedule(() -> {
                throw new StackOverflowError("a bottom half");
            });
            ctx.schedule(bhRan::countDown);
            bhRan.await();
            assertTrue(io.isRunning());
            assertEquals(2, io.failureCount());
            assertTrue(watches[0].isClosed());
            assertFalse(watches[1].isClosed());
            ctx.acquire();
            try {
                watches[1].close();
            } finally {
                ctx.release();
            }
            bad.source().close();
            good.source().close();
        }
    }

    /** Without an owner's failure handler the failing watch is closed, so it cannot spin. */
    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void aFailingWatchWithoutAFailureHandlerIsClosed() throws Exception {
        try (IOThread io = IOThread.start("faults2", IOThread.UNPINNED)) {
            AioContext ctx = io.context();
            Pipe p = Pipe.open();
            FdWatch[] w = new FdWatch[1];
            ctx.acquire();
            try {
                w[0] = ctx.watchChannel(p.source(), false, () -> {
                    throw new IllegalStateException("always");
                }, null);
            } finally {
                ctx.release();
            }
            p.sink().write(ByteBuffer.wrap(new byte[] {1}));
            while (io.failureCount() == 0) {
                Thread.sleep(1);
            }
            CountDownLatch looked = new CountDownLatch(1);
            boolean[] closed = new boolean[1];
            ctx.schedule(() -> {
                closed[0] = w[0].isClosed();
                looked.countDown();
            });
            looked.await();
            assertTrue(closed[0]);
            assertEquals(1, io.failureCount());
            p.source().close();
        }
    }

    /** A context polled by a plain thread (no failure listener) still rethrows, as before. */
    @Test
    void withoutAFailureListenerPollRethrows() {
        try (AioContext ctx = new AioContext("plain")) {
            ctx.schedule(() -> {
                throw new IllegalArgumentException("boom");
            });
            assertThrows(IllegalArgumentException.class, () -> ctx.poll(false));
        }
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
