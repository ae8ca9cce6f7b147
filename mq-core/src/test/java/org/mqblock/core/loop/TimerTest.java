package org.mqblock.core.loop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

class TimerTest {

    private final ManualClock clock = new ManualClock();
    private AioContext ctx;

    @BeforeEach
    void open() {
        ctx = new AioContext("timers", clock);
    }

    @AfterEach
    void close() {
        ctx.close();
    }

    private interface Body {
        void run() throws Exception;
    }

    /** Timers are armed by a thread holding the context; the test thread polls it too. */
    private void holding(Body body) throws Exception {
        ctx.acquire();
        try {
            body.run();
        } finally {
            ctx.release();
        }
    }

    @Test
    void timersFireInDeadlineOrderAndTiesInArmOrder() throws Exception {
        holding(() -> {
            List<String> fired = new ArrayList<>();
            long t0 = clock.peek();
            ctx.newTimer("c", () -> fired.add("c")).armAt(t0 + 300);
            ctx.newTimer("a", () -> fired.add("a")).armAt(t0 + 100);
            ctx.newTimer("b1", () -> fired.add("b1")).armAt(t0 + 200);
            ctx.newTimer("b2", () -> fired.add("b2")).armAt(t0 + 200);
            assertFalse(ctx.poll(false), "nothing is due yet");
            clock.advance(250);
            assertTrue(ctx.poll(false));
            assertEquals(List.of("a", "b1", "b2"), fired);
            clock.advance(50);
            assertTrue(ctx.poll(false));
            assertEquals(List.of("a", "b1", "b2", "c"), fired);
        });
    }

    @Test
    void cancelledTimerNeverFiresAndRearmMovesTheDeadline() throws Exception {
        holding(() -> {
            List<String> fired = new ArrayList<>();
            long t0 = clock.peek();
            Timer cancelled = ctx.newTimer("cancelled", () -> fired.add("cancelled"));
            Timer moved = ctx.newTimer("moved", () -> fired.add("moved"));
            Timer early = ctx.newTimer("early", () -> fired.add("early"));
            cancelled.armAt(t0 + 10);
            moved.armAt(t0 + 10);
            early.armAt(t0 + 50);
            cancelled.cancel();
            cancelled.cancel(); // harmless twice
            assertFalse(cancelled.isArmed());
            moved.armAt(t0 + 100); // later than `early` now
            clock.advance(60);
            ctx.poll(false);
            assertEquals(List.of("early"), fired);
            assertTrue(moved.isArmed());
            moved.armAt(t0 + 70); // earlier again
            clock.advance(10);
            ctx.poll(false);
            assertEquals(List.of("early", "moved"), fired);
            assertFalse(moved.isArmed());
        });
    }

    @Test
    void heapKeepsOrderUnderRandomArmRearmAndCancel() throws Exception {
        holding(() -> {
            Random rnd = new Random(42);
            long t0 = clock.peek();
            List<Long> firedDeadlines = new ArrayList<>();
            List<Timer> timers = new ArrayList<>();
            for (int i = 0; i < 500; i++) {
                Timer[] self = new Timer[1];
                self[0] = ctx.newTimer("t" + i, () -> firedDeadlines.add(self[0].deadline()));
                timers.add(self[0]);
            }
            int expected = 0;
            for (Timer t : timers) {
                t.armAt(t0 + rnd.nextInt(10_000));
            }
            for (int i = 0; i < 2_000; i++) {
                Timer t = timers.get(rnd.nextInt(timers.size()));
                if (rnd.nextBoolean()) {
                    t.armAt(t0 + rnd.nextInt(10_000));
                } else {
                    t.cancel();
                }
            }
            for (Timer t : timers) {
                expected += t.isArmed() ? 1 : 0;
            }
            clock.advance(10_000);
            ctx.poll(false);
            assertEquals(expected, firedDeadlines.size());
            for (int i = 1; i < firedDeadlines.size(); i++) {
                assertTrue(firedDeadlines.get(i - 1) <= firedDeadlines.get(i), "fired out of deadline order at " + i);
            }
        });
    }

    @Test
    void periodicTimerRearmedFromItsCallbackRunsOncePerPoll() throws Exception {
        holding(() -> {
            int[] runs = new int[1];
            Timer[] self = new Timer[1];
            self[0] = ctx.newTimer("periodic", () -> {
                runs[0]++;
                self[0].armAt(clock.peek()); // due again immediately
            });
            self[0].armAt(clock.peek());
            ctx.poll(false);
            assertEquals(1, runs[0], "a timer re-armed for 'now' waits for the next pass");
            ctx.poll(false);
            assertEquals(2, runs[0]);
            self[0].cancel();
        });
    }

    @Test
    void armingRequiresHoldingTheContext() throws Exception {
        holding(() -> {
            try {
                Timer t = ctx.newTimer("t", () -> {});
                Throwable[] seen = new Throwable[1];
                Thread other = new Thread(() -> {
                    try {
                        t.armAfter(10);
                    } catch (Throwable e) {
                        seen[0] = e;
                    }
                }, "not-holding");
                other.start();
                other.join();
                assertTrue(seen[0] instanceof IllegalStateException, String.valueOf(seen[0]));
                assertTrue(seen[0].getMessage().contains("timers"), seen[0].getMessage());
    
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
    }

    @Test
    void blockingPollSleepsUntilTheNextTimer() {
        AioContext real = new AioContext("real-clock");
        real.acquire();
        try {
            boolean[] fired = new boolean[1];
            real.newTimer("t", () -> fired[0] = true).armAfter(TimeUnit.MILLISECONDS.toNanos(5));
            while (!fired[0]) {
                real.poll(true);
            }
            assertTrue(real.sleepCount() > 0, "the loop slept instead of spinning");
            assertThrows(IllegalArgumentException.class, () -> real.setPollParams(-1, 0, 0));
        } finally {
            real.release();
            real.close();
        }
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void earlierTimerArmedByAForeignHolderWakesASleepingLoop() throws Exception {
        try (IOThread io = IOThread.start("timer-host", IOThread.UNPINNED, 0)) {
            AioContext c = io.context();
            CountDownLatch fired = new CountDownLatch(1);
            Timer far = c.newTimer("far", () -> {});
            Timer near = c.newTimer("near", fired::countDown);
            c.acquire();
            far.armAfter(TimeUnit.HOURS.toNanos(1));
            c.release();
            WakeupTest.awaitParked(io);
            c.acquire();
            near.armAfter(0); // the loop sleeps towards `far`: it must recompute
            c.release();
            fired.await();
            c.acquire();
            far.cancel();
            c.release();
        }
    }
}
