package org.mqblock.core.loop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

class BottomHalfTest {

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void oneShotsRunExactlyOnceInPerProducerOrder() throws Exception {
        final int producers = 3;
        final int perProducer = 350_000; // > 10^6 schedules in all
        long[] lastSeen = new long[producers];
        long[] runs = new long[producers];
        AtomicInteger orderViolations = new AtomicInteger();
        CountDownLatch allRan = new CountDownLatch(1);
        AtomicInteger total = new AtomicInteger();
        try (IOThread io = IOThread.start("bh-consumer", IOThread.UNPINNED)) {
            AioContext ctx = io.context();
            for (int p = 0; p < producers; p++) {
                lastSeen[p] = -1;
            }
            List<Thread> threads = new ArrayList<>();
            for (int p = 0; p < producers; p++) {
                final int producer = p;
                Thread t = new Thread(() -> {
                    for (int i = 0; i < perProducer; i++) {
                        final long seq = i;
                        ctx.schedule(() -> {
                            // Runs in the IOThread only: plain arrays are fine.
                            if (lastSeen[producer] != seq - 1) {
                                orderViolations.incrementAndGet();
                            }
                            lastSeen[producer] = seq;
                            runs[producer]++;
                            if (total.incrementAndGet() == producers * perProducer) {
                                allRan.countDown();
                            }
                        });
                    }
                }, "producer-" + p);
                threads.add(t);
            }
            threads.forEach(Thread::start);
            for (Thread t : threads) {
                t.join();
            }
            allRan.await();
            // Let any duplicate show up before checking.
            CountDownLatch fence = new CountDownLatch(1);
            ctx.schedule(fence::countDown);
            fence.await();
            assertEquals(0, io.failureCount());
        }
        assertEquals(0, orderViolations.get(), "one-shots from one producer ran out of order");
        for (int p = 0; p < producers; p++) {
            assertEquals(perProducer, runs[p], "producer " + p + ": every one-shot runs exactly once");
        }
        assertEquals(producers * perProducer, total.get());
    }

    @Test
    void schedulingAPendingBottomHalfRunsItOnce() {
        AioContext ctx = new AioContext("coalesce");
        AtomicInteger runs = new AtomicInteger();
        BottomHalf bh = ctx.newBottomHalf("counter", runs::incrementAndGet);
        bh.schedule();
        bh.schedule();
        bh.schedule();
        assertTrue(bh.isScheduled());
        assertTrue(ctx.poll(false));
        assertEquals(1, runs.get());
        assertFalse(ctx.poll(false), "nothing left to run");
        bh.schedule();
        assertTrue(ctx.poll(false));
        assertEquals(2, runs.get(), "a bottom half is reusable once it ran");
        bh.delete();
        ctx.close();
    }

    @Test
    void cancelUndoesScheduleAndScheduleAfterCancelRuns() {
        AioContext ctx = new AioContext("cancel");
        AtomicInteger runs = new AtomicInteger();
        BottomHalf bh = ctx.newBottomHalf("counter", runs::incrementAndGet);
        bh.schedule();
        bh.cancel();
        assertFalse(bh.isScheduled());
        assertFalse(ctx.poll(false), "a cancelled bottom half makes no progress");
        assertEquals(0, runs.get());
        bh.schedule();
        bh.cancel();
        bh.schedule(); // still queued from before: must run once
        assertTrue(ctx.poll(false));
        assertEquals(1, runs.get());
        bh.delete();
        ctx.close();
    }

    @Test
    void deletedBottomHalfNeverRunsAndCannotBeScheduled() {
        AioContext ctx = new AioContext("delete");
        AtomicInteger runs = new AtomicInteger();
        BottomHalf bh = ctx.newBottomHalf("victim", runs::incrementAndGet);
        bh.schedule();
        bh.delete();
        assertFalse(ctx.poll(false));
        assertEquals(0, runs.get());
        IllegalStateException e = assertThrows(IllegalStateException.class, bh::schedule);
        assertTrue(e.getMessage().contains("victim"), e.getMessage());
        ctx.close();
    }

    @Test
    void bottomHalfScheduledFromABottomHalfRunsInTheSamePoll() {
        AioContext ctx = new AioContext("chain");
        List<String> order = new ArrayList<>();
        ctx.schedule(() -> {
            order.add("first");
            ctx.schedule(() -> order.add("second"));
        });
        assertTrue(ctx.poll(false));
        assertEquals(List.of("first", "second"), order);
        ctx.close();
    }

    @Test
    void selfReschedulingBottomHalfDoesNotStarveOtherWork() {
        ManualClock clock = new ManualClock();
        AioContext ctx = new AioContext("starve", clock);
        AtomicInteger spins = new AtomicInteger();
        BottomHalf[] self = new BottomHalf[1];
        self[0] = ctx.newBottomHalf("spinner", () -> {
            spins.incrementAndGet();
            self[0].schedule();
        });
        AtomicInteger timerRuns = new AtomicInteger();
        AtomicInteger notifierRuns = new AtomicInteger();
        EventNotifier n = new EventNotifier("n");
        ctx.acquire();
        ctx.newTimer("t", timerRuns::incrementAndGet).armAt(clock.peek());
        ctx.setEventNotifier(n, false, notifierRuns::incrementAndGet, null);
        ctx.release();
        n.set();
        self[0].schedule();
        assertTrue(ctx.poll(false));
        assertEquals(1, timerRuns.get(), "the timer ran despite the spinning bottom half");
        assertEquals(1, notifierRuns.get(), "the notifier ran despite the spinning bottom half");
        assertEquals(2, spins.get(), "once per slice, two slices per poll");
        for (int i = 0; i < 10; i++) {
            ctx.poll(false);
        }
        assertEquals(22, spins.get());
        self[0].delete();
        ctx.acquire();
        ctx.removeEventNotifier(n);
        ctx.release();
        ctx.close();
    }

    @Test
    void nestedPollRunsWhatIsLeftOfTheOuterSliceExactlyOnce() {
        AioContext ctx = new AioContext("nested");
        List<String> order = new ArrayList<>();
        ctx.schedule(() -> {
            order.add("a");
            ctx.poll(false); // e.g. AioWait in a handler
            order.add("a-after-nested");
        });
        ctx.schedule(() -> order.add("b"));
        ctx.schedule(() -> order.add("c"));
        assertTrue(ctx.poll(false));
        assertEquals(List.of("a", "b", "c", "a-after-nested"), order);
        assertFalse(ctx.poll(false));
        ctx.close();
    }

    @Test
    void closingWithALiveBottomHalfFailsNamingIt() {
        AioContext ctx = new AioContext("leaky");
        BottomHalf bh = ctx.newBottomHalf("forgotten-completion", () -> {});
        IllegalStateException e = assertThrows(IllegalStateException.class, ctx::close);
        assertTrue(e.getMessage().contains("forgotten-completion"), e.getMessage());
        assertFalse(ctx.isClosed());
        bh.delete();
        ctx.close();
        assertTrue(ctx.isClosed());
    }

    @Test
    void closingWithAPendingOneShotFailsAndTheOneShotStillRuns() {
        AioContext ctx = new AioContext("pending");
        AtomicInteger runs = new AtomicInteger();
        ctx.schedule(runs::incrementAndGet);
        IllegalStateException e = assertThrows(IllegalStateException.class, ctx::close);
        assertTrue(e.getMessage().contains("oneshot"), e.getMessage());
        assertTrue(ctx.poll(false));
        assertEquals(1, runs.get(), "the refused close lost nothing");
        ctx.close();
        assertThrows(IllegalStateException.class, () -> ctx.schedule(() -> {}));
        assertThrows(IllegalStateException.class, () -> ctx.poll(false));
    }

    @Test
    void onlyTheHomeThreadPolls() throws Exception {
        AioContext ctx = new AioContext("home");
        ctx.poll(false); // binds the test thread
        Throwable[] seen = new Throwable[1];
        Thread other = new Thread(() -> {
            try {
                ctx.poll(false);
            } catch (Throwable t) {
                seen[0] = t;
            }
        }, "intruder");
        other.start();
        other.join();
        assertTrue(seen[0] instanceof IllegalStateException, String.valueOf(seen[0]));
        assertTrue(seen[0].getMessage().contains("intruder"), seen[0].getMessage());
        ctx.close();
    }
}
