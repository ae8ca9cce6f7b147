package org.mqblock.core.loop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Adaptive polling with QEMU's poll_max_ns / poll_grow / poll_shrink semantics. */
class PollWindowTest {

    @Test
    void growsFromFourMicrosecondsOnHitsAfterBlockingUpToTheMaximum() {
        PollWindow w = new PollWindow(32_768, 0, 0);
        assertEquals(0, w.ns());
        w.adjust(10_000); // blocked 10 us, under the maximum: a hit we could have polled for
        assertEquals(4_000, w.ns());
        w.adjust(10_000);
        assertEquals(8_000, w.ns());
        w.adjust(10_000);
        assertEquals(16_000, w.ns());
        w.adjust(20_000);
        assertEquals(32_000, w.ns());
        w.adjust(32_500);
        assertEquals(32_768, w.ns(), "capped at poll_max_ns");
        w.adjust(32_700);
        assertEquals(32_768, w.ns(), "the sweet spot keeps the window");
    }

    @Test
    void missShrinksToZeroByDefaultOrByTheShrinkFactor() {
        PollWindow reset = new PollWindow(32_768, 0, 0);
        reset.adjust(10_000);
        reset.adjust(10_000);
        assertEquals(8_000, reset.ns());
        reset.adjust(1_000_000); // blocked far longer than poll_max_ns
        assertEquals(0, reset.ns(), "poll_shrink 0 resets the window");

        PollWindow halve = new PollWindow(100_000, 4, 2);
        halve.adjust(50_000);
        halve.adjust(50_000);
        assertEquals(16_000, halve.ns(), "poll_grow 4");
        halve.adjust(200_000);
        assertEquals(8_000, halve.ns(), "poll_shrink 2");
    }

    @Test
    void eventsWithinTheWindowLeaveItAlone() {
        PollWindow w = new PollWindow(32_768, 0, 0);
        w.adjust(1);
        assertEquals(4_000, w.ns());
        for (int i = 0; i < 10; i++) {
            w.adjust(3_999);
        }
        assertEquals(4_000, w.ns());
    }

    @Test
    void zeroMaximumDisablesPolling() {
        PollWindow w = new PollWindow(32_768, 0, 0);
        w.adjust(1_000);
        w.set(0, 0, 0);
        w.adjust(1_000);
        assertEquals(0, w.ns());
        w.adjust(10);
        assertEquals(0, w.ns());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> w.set(1, -1, 0));
        assertTrue(e.getMessage().contains("poll-grow"), e.getMessage());
    }

    /**
     * The loop itself: a clock that advances 100 ns per read makes the busy-poll phase a fixed
     * number of iterations, so what the loop does is exact.
     */
    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void loopBusyPollsWithinTheWindowAndSleepsAfterIt() {
        ManualClock clock = new ManualClock(100);
        AioContext ctx = new AioContext("adaptive", clock);
        ctx.setPollParams(32_768, 0, 0);
        AtomicInteger pollCalls = new AtomicInteger();
        AtomicInteger handled = new AtomicInteger();
        int[] readyAfter = {Integer.MAX_VALUE};
        EventNotifier vq = new EventNotifier("vq");
        ctx.acquire();
        ctx.setEventNotifier(vq, true, handled::incrementAndGet,
                () -> pollCalls.incrementAndGet() >= readyAfter[0]);

        // Window 0: no busy polling; the event comes after blocking, well inside poll_max_ns.
        vq.set();
        assertTrue(ctx.poll(true));
        assertEquals(0, pollCalls.get(), "a zero window does not poll");
        assertEquals(1, handled.get());

        // Force a hit after blocking: grow to 4 us.
        ctx.pollWindow().adjust(1_000);
        assertEquals(4_000, ctx.pollWindow().ns());

        // Work appears on the 5th poll call: found while busy polling, without sleeping.
        pollCalls.set(0);
        readyAfter[0] = 5;
        long sleepsBefore = ctx.sleepCount();
        assertTrue(ctx.poll(true));
        assertEquals(sleepsBefore, ctx.sleepCount(), "found by polling, no sleep");
        assertEquals(1, ctx.busyPollHitCount());
        assertEquals(2, handled.get(), "the poll-ready handler ran");
        assertEquals(4_000, ctx.pollWindow().ns(), "an event inside the window keeps it");

        ctx.removeEventNotifier(vq);
        ctx.release();
        ctx.close();
    }
    /**
     * Work that arrives while the source's notifications are suppressed for polling, in a phase
     * cut short by an unrelated aio_notify, is found by the look after {@code pollEnd} in that
     * same poll. Without it, a window that the long phase shrank to 0 means no later busy poll,
     * no kick ever comes, and the work waits forever (seen as a hung guest in the F8 sweep).
     */
    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void workArrivingWhileSuppressedIsFoundEvenWhenPollingEndsOnANotify() {
        ManualClock clock = new ManualClock();
        AioContext ctx = new AioContext("suppressing", clock);
        ctx.setPollParams(32_768, 0, 0);
        ctx.pollWindow().adjust(1_000); // window 4 us
        int[] published = {0};
        int[] consumed = {0};
        EventNotifier vq = new EventNotifier("vq");
        ctx.acquire();
        ctx.setEventNotifier(vq, true, () -> consumed[0] = published[0], new PollHandler() {
            @Override
            public boolean poll() {
                boolean has = published[0] > consumed[0];
                if (published[0] == 0) {      // just after this first look:
                    published[0]++;           // the guest publishes and, suppressed, does not kick,
                    ctx.schedule(() -> { });  // an unrelated completion notifies the loop,
                    clock.advance(1_000_000); // and the thread is preempted for 1 ms
                }
                return has;
            }
        });

        assertTrue(ctx.poll(true));
        assertEquals(0, ctx.pollWindow().ns(), "the long phase shrank the window to 0");
        assertEquals(1, consumed[0], "the item published while suppressed was handled in the same poll");

        ctx.removeEventNotifier(vq);
        ctx.release();
        ctx.close();
    }
}
