package org.mqblock.core.loop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.channels.Pipe;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

class SelectorMonitorTest {

    /** Counts the calls a context makes into its monitor's wakeup. */
    private static final class CountingMonitor implements FdMonitor {
        final FdMonitor inner;
        final AtomicLong wakeups = new AtomicLong();

        CountingMonitor(AioContext ctx) {
            inner = new SelectorMonitor(ctx);
        }

        @Override public String kind() { return "counting " + inner.kind(); }
        @Override public void update(FdWatch watch, int events) { inner.update(watch, events); }
        @Override public void remove(FdWatch watch) { inner.remove(watch); }
        @Override public int wait(long timeoutNs, ReadyList ready) { return inner.wait(timeoutNs, ready); }
        @Override public void close() { inner.close(); }

        @Override
        public void wakeup() {
            wakeups.incrementAndGet();
            inner.wakeup();
        }
    }

    @Test
    void rawFdsAreRefusedNamingTheMonitorToUse() {
        try (AioContext ctx = new AioContext("sel")) {
            ctx.acquire();
            try {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> ctx.watchFd(0, false, () -> { }, null, null));
                assertTrue(e.getMessage().contains("epoll monitor"), e.getMessage());
                assertEquals("selector", ctx.monitorKind());
            } finally {
                ctx.release();
            }
        }
    }

    /**
     * One call into the monitor per wakeup of a sleeping loop, in both of the Selector monitor's
     * sleeping modes (park with no channel, select with one), and every ping answered.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void eachWakeupIsOneMonitorCallAndNoneIsLost() throws Exception {
        for (boolean withChannel : new boolean[] {false, true}) {
            CountingMonitor[] made = new CountingMonitor[1];
            IOThread io = IOThread.start("counted", IOThread.UNPINNED, 0, ctx -> made[0] = new CountingMonitor(ctx));
            Pipe pipe = Pipe.open();
            AioContext ctx = io.context();
            if (withChannel) {
                ctx.acquire();
                try {
                    ctx.watchChannel(pipe.source(), false, () -> { }, null);
                } finally {
                    ctx.release();
                }
            }
            AtomicLong pongs = new AtomicLong();
            BottomHalf ping = ctx.newBottomHalf("ping", pongs::incrementAndGet);
            long before = ctx.wakeupCount();
            long callsBefore = made[0].wakeups.get();
            for (int i = 1; i <= 2000; i++) {
                while (!ctx.mayBeSleeping()) {
                    Thread.onSpinWait(); // ping a loop that is (about to be) asleep
                }
                ping.schedule();
                while (pongs.get() < i) {
                    Thread.onSpinWait();
                }
            }
            assertEquals(ctx.wakeupCount() - before, made[0].wakeups.get() - callsBefore,
                    "wakeups counted by the context vs calls into the monitor (channel: " + withChannel + ")");
            assertTrue(ctx.wakeupCount() - before > 0);
            ping.delete();
            io.close();
            pipe.source().close();
            pipe.sink().close();
        }
    }
}
