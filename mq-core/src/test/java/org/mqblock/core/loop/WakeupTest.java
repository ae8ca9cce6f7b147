package org.mqblock.core.loop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.channels.Pipe;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The aio_notify protocol: no wakeup is lost, and none is made while the loop is awake. A lost
 * wakeup shows up as a hang, caught by the timeouts.
 */
class WakeupTest {

    private static final int ROUND_TRIPS = 100_000;

    /**
     * Two loops bounce a token; after handling it each goes straight back to sleep while the other
     * publishes the next one: the race between "publish" and "about to sleep" runs every round.
     *
     * @param mode park: nothing but bottom halves; select: each loop also watches a pipe, so it
     *     sleeps in Selector.select(); poll: adaptive busy polling on
     */
    @ParameterizedTest
    @ValueSource(strings = {"park", "select", "poll"})
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void noWakeupLostWhenPublishingAsTheLoopGoesToSleep(String mode) throws Exception {
        long pollMaxNs = mode.equals("poll") ? PollWindow.DEFAULT_MAX_NS : 0;
        Pipe pipeA = Pipe.open();
        Pipe pipeB = Pipe.open();
        try (IOThread a = IOThread.start("ping", IOThread.UNPINNED, pollMaxNs);
             IOThread b = IOThread.start("pong", IOThread.UNPINNED, pollMaxNs)) {
            if (mode.equals("select")) {
                watch(a.context(), pipeA.source()); // never readable: only makes the loop select()
                watch(b.context(), pipeB.source());
            }
            AtomicLong remaining = new AtomicLong(ROUND_TRIPS);
            CountDownLatch finished = new CountDownLatch(1);
            BottomHalf[] toA = new BottomHalf[1];
            BottomHalf toB = b.context().newBottomHalf("to-b", () -> toA[0].schedule());
            toA[0] = a.context().newBottomHalf("to-a", () -> {
                if (remaining.decrementAndGet() > 0) {
                    toB.schedule();
                } else {
                    finished.countDown();
                }
            });
            toB.schedule();
            finished.await();
            assertEquals(0, a.failureCount() + b.failureCount());
            if (!mode.equals("poll")) {
                assertTrue(a.context().sleepCount() > 0 && b.context().sleepCount() > 0, "the loops did sleep");
            }
            toA[0].delete();
            toB.delete();
        } finally {
            pipeA.source().close();
            pipeA.sink().close();
            pipeB.source().close();
            pipeB.sink().close();
        }
    }

    /** Producers on several threads publish while one loop keeps falling asleep. */
    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void manyProducersNeverStrandAnEventNotifier() throws Exception {
        final int producers = 2;
        final int perProducer = 100_000;
        AtomicInteger handled = new AtomicInteger();
        try (IOThread io = IOThread.start("sink", IOThread.UNPINNED, 0)) {
            AioContext ctx = io.context();
            EventNotifier[] notifiers = new EventNotifier[producers];
            AtomicInteger[] acked = new AtomicInteger[producers];
            ctx.acquire();
            for (int p = 0; p < producers; p++) {
                EventNotifier n = new EventNotifier("n" + p);
                AtomicInteger ack = new AtomicInteger();
                notifiers[p] = n;
                acked[p] = ack;
                ctx.setEventNotifier(n, false, () -> {
                    ack.incrementAndGet();
                    handled.incrementAndGet();
                }, null);
            }
            ctx.release();
            Thread[] threads = new Thread[producers];
            for (int p = 0; p < producers; p++) {
                final int producer = p;
                threads[p] = new Thread(() -> {
                    for (int i = 1; i <= perProducer; i++) {
                        notifiers[producer].set();
                        // wait until the loop has handled it: the next set races its next sleep
                        while (acked[producer].get() < i) {
                            Thread.onSpinWait();
                        }
                    }
                });
                threads[p].start();
            }
            for (Thread t : threads) {
                t.join();
            }
            assertEquals(producers * perProducer, handled.get());
            ctx.acquire();
            for (EventNotifier n : notifiers) {
                ctx.removeEventNotifier(n);
            }
            ctx.release();
        }
    }

    /**
     * The producer publishes with a release store only (an SPSC ring's offer) and then sets the
     * notifier: set() must not decide "already signalled" from a load that overtook that store.
     */
    @ParameterizedTest
    @ValueSource(longs = {0, PollWindow.DEFAULT_MAX_NS})
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void notifierSetAfterAReleaseStoreIsNeverLost(long pollMaxNs) throws Exception {
        final int items = Integer.getInteger("mqblock.ringkick.items", 1_000_000);
        org.mqblock.core.ring.SpscLongRing ring = new org.mqblock.core.ring.SpscLongRing(64);
        AtomicLong consumed = new AtomicLong();
        try (IOThread io = IOThread.start("ring-consumer", IOThread.UNPINNED, pollMaxNs)) {
            EventNotifier kick = new EventNotifier("sq");
            java.util.function.LongConsumer take = v -> consumed.lazySet(v + 1);
            io.context().acquire();
            io.context().setEventNotifier(kick, false, () -> ring.drain(take, Integer.MAX_VALUE),
                    pollMaxNs > 0 ? () -> !ring.isEmpty() : null);
            io.context().release();
            for (long i = 0; i < items; i++) {
                while (!ring.offer(i)) {
                    Thread.onSpinWait();
                }
                kick.set();
                if ((i & 1023) == 1023) {
                    while (consumed.get() <= i) { // let the loop catch up and go back to sleep
                        Thread.onSpinWait();
                    }
                }
            }
            while (consumed.get() < items) {
                Thread.onSpinWait();
            }
            io.context().acquire();
            io.context().removeEventNotifier(kick);
            io.context().release();
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void noWakeupCallWhileTheLoopIsAwake() throws Exception {
        AioContext ctx = new AioContext("awake");
        ctx.poll(false); // the test thread is the home thread and never blocks
        AtomicInteger runs = new AtomicInteger();
        BottomHalf bh = ctx.newBottomHalf("work", runs::incrementAndGet);
        Thread producer = new Thread(() -> {
            for (int i = 0; i < 100_000; i++) {
                bh.schedule();
                ctx.schedule(runs::incrementAndGet);
            }
        });
        producer.start();
        while (producer.isAlive()) {
            ctx.poll(false);
        }
        while (ctx.poll(false)) {
            // drain
        }
        assertEquals(0, ctx.wakeupCount(), "producers must not wake a loop that never sleeps");
        assertTrue(runs.get() >= 100_000);
        bh.delete();
        ctx.close();
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void noWakeupCallWhileTheLoopBusyPolls() throws Exception {
        // A frozen clock makes the polling window endless: only `notified` can end the spin.
        AioContext ctx = new AioContext("spinner", new ManualClock());
        ctx.setPollParams(1_000_000, 0, 0);
        ctx.pollWindow().adjust(1); // window 4 us, on a clock that never moves
        CountDownLatch polling = new CountDownLatch(1);
        EventNotifier idle = new EventNotifier("idle");
        ctx.acquire();
        ctx.setEventNotifier(idle, false, () -> {}, () -> {
            polling.countDown();
            return false;
        });
        ctx.release();
        AtomicInteger runs = new AtomicInteger();
        Thread producer = new Thread(() -> {
            try {
                polling.await();
            } catch (InterruptedException e) {
                return;
            }
            ctx.schedule(runs::incrementAndGet);
        });
        producer.start();
        assertTrue(ctx.poll(true));
        producer.join();
        assertEquals(1, runs.get());
        assertEquals(0, ctx.wakeupCount(), "a busy-polling loop is reached through `notified` alone");
        assertEquals(0, ctx.sleepCount());
        ctx.acquire();
        ctx.removeEventNotifier(idle);
        ctx.release();
        ctx.close();
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aBurstAgainstASleepingLoopCostsOneWakeup() throws Exception {
        try (IOThread io = IOThread.start("sleeper", IOThread.UNPINNED, 0)) {
            AioContext ctx = io.context();
            for (int round = 0; round < 20; round++) {
                awaitParked(io);
                long before = ctx.wakeupCount();
                AtomicInteger runs = new AtomicInteger();
                // The loop sleeps without its lock: holding it keeps the woken loop from
                // accepting the notification, so every later schedule sees `notified` set.
                ctx.acquire();
                for (int i = 0; i < 10; i++) {
                    ctx.schedule(runs::incrementAndGet);
                }
                assertEquals(before + 1, ctx.wakeupCount(), "round " + round);
                ctx.release();
                while (runs.get() < 10) {
                    Thread.onSpinWait();
                }
            }
        }
    }

    static void awaitParked(IOThread io) throws InterruptedException {
        Thread t = threadOf(io);
        while (!io.context().mayBeSleeping()
                || (t.getState() != Thread.State.WAITING && t.getState() != Thread.State.TIMED_WAITING)) {
            Thread.sleep(1);
        }
    }

    static Thread threadOf(IOThread io) {
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().equals(io.id())) {
                return t;
            }
        }
        throw new AssertionError("no thread named " + io.id());
    }

    private static void watch(AioContext ctx, Pipe.SourceChannel source) throws IOException {
        CountDownLatch done = new CountDownLatch(1);
        ctx.schedule(() -> {
            ctx.watchChannel(source, false, () -> {}, null);
            done.countDown();
        });
        try {
            done.await();
        } catch (InterruptedException e) {
            throw new IOException(e);
        }
    }
    /**
     * A source that suppresses its notifications while the loop busy-polls it (virtio's
     * NO_NOTIFY / EVENT_IDX): whatever it published meanwhile is seen only by the loop's last look
     * after {@code pollEnd}. That look must happen even when the polling phase ended because the
     * loop was notified for something else, or the work waits forever behind a sleeping loop.
     */
    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void workPublishedWhileNotificationsAreSuppressedIsNeverStranded() throws Exception {
        final int items = 200_000;
        AtomicLong published = new AtomicLong();
        AtomicLong consumed = new AtomicLong();
        java.util.concurrent.atomic.AtomicBoolean wantsKick = new java.util.concurrent.atomic.AtomicBoolean(true);
        PollHandler device = new PollHandler() {
            @Override
            public boolean poll() {
                return published.get() > consumed.get();
            }

            @Override
            public void pollBegin() {
                wantsKick.set(false);
            }

            @Override
            public void pollEnd() {
                wantsKick.set(true); // volatile: then the loop's last look reads published
            }
        };
        try (IOThread io = IOThread.start("suppressing", IOThread.UNPINNED, PollWindow.DEFAULT_MAX_NS)) {
            AioContext ctx = io.context();
            EventNotifier kick = new EventNotifier("vq");
            Runnable handle = () -> {
                do {
                    wantsKick.set(false);
                    consumed.set(published.get());
                    wantsKick.set(true);
                } while (published.get() > consumed.get());
            };
            ctx.acquire();
            ctx.setEventNotifier(kick, false, handle, device);
            ctx.release();
            AtomicInteger noise = new AtomicInteger();
            Thread notifier = new Thread(() -> { // aio_notify for unrelated work, all the time
                while (!Thread.currentThread().isInterrupted()) {
                    ctx.schedule(noise::incrementAndGet);
                    LockSupport.parkNanos(2_000);
                }
            });
            notifier.start();
            try {
                for (long i = 1; i <= items; i++) {
                    published.set(i); // volatile: before reading whether the device wants a kick
                    if (wantsKick.get()) {
                        kick.set();
                    }
                    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                    while (consumed.get() < i) {
                        if (System.nanoTime() - deadline > 0) {
                            throw new AssertionError("item " + i + " stranded: published " + published.get()
                                    + ", consumed " + consumed.get() + ", loop asleep with notifications on");
                        }
                        Thread.onSpinWait();
                    }
                    if ((i & 63) == 0) {
                        LockSupport.parkNanos(50_000); // long enough for the polling window to shrink
                    }
                }
            } finally {
                notifier.interrupt();
                notifier.join();
            }
            ctx.acquire();
            ctx.removeEventNotifier(kick);
            ctx.release();
        }
    }
}
