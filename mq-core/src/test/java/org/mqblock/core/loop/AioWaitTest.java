package org.mqblock.core.loop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

class AioWaitTest {

    @Test
    void inTheHomeThreadItPollsUntilTheConditionClears() {
        AioContext ctx = new AioContext("home-wait");
        AtomicInteger done = new AtomicInteger();
        for (int i = 0; i < 5; i++) {
            ctx.schedule(done::incrementAndGet);
        }
        ctx.poll(false);
        for (int i = 0; i < 5; i++) {
            ctx.schedule(done::incrementAndGet);
        }
        AioWait.waitWhile(ctx, () -> done.get() < 10);
        assertEquals(10, done.get());
        ctx.close();
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void mainLoopWaitsForAnIOThreadWhileHoldingItsContext() throws Exception {
        try (IOThread io = IOThread.start("drainee", IOThread.UNPINNED)) {
            AioContext ctx = io.context();
            for (int round = 0; round < 200; round++) {
                AtomicInteger inFlight = new AtomicInteger(50);
                ctx.acquire();
                ctx.acquire(); // depth 2, like a nested graph operation
                for (int i = 0; i < 50; i++) {
                    ctx.schedule(inFlight::decrementAndGet);
                }
                // Holding the context would keep the IOThread from running these: the wait
                // must let go of it and take it back at the same depth.
                AioWait.waitWhile(ctx, () -> inFlight.get() > 0);
                assertEquals(0, inFlight.get());
                assertTrue(ctx.isHeldByCurrentThread());
                assertEquals(2, ctx.releaseAll());
            }
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void waiterThatIsItselfALoopPollsItsOwnContextMeanwhile() throws Exception {
        try (IOThread worker = IOThread.start("worker", IOThread.UNPINNED);
             IOThread main = IOThread.start("main", IOThread.UNPINNED)) {
            AtomicInteger mainWork = new AtomicInteger();
            AtomicInteger workerDone = new AtomicInteger();
            boolean[] finished = new boolean[1];
            Object lock = new Object();
            // In `main`'s thread: wait for `worker`, while main's own bottom halves keep running.
            main.context().schedule(() -> {
                for (int i = 0; i < 100; i++) {
                    worker.context().schedule(workerDone::incrementAndGet);
                    main.context().schedule(mainWork::incrementAndGet);
                }
                AioWait.waitWhile(worker.context(), () -> workerDone.get() < 100 || mainWork.get() < 100);
                synchronized (lock) {
                    finished[0] = true;
                    lock.notifyAll();
                }
            });
            synchronized (lock) {
                while (!finished[0]) {
                    lock.wait();
                }
            }
            assertEquals(100, workerDone.get());
            assertEquals(100, mainWork.get(), "the waiting loop ran its own work");
            assertEquals(0, worker.failureCount() + main.failureCount());
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void explicitKickWakesAWaiterForStateChangedOutsideAnyLoop() throws Exception {
        AioContext idle = new AioContext("idle"); // nobody polls it
        AtomicInteger flag = new AtomicInteger();
        Thread changer = new Thread(() -> {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            flag.set(1);
            AioWait.kick();
        });
        changer.start();
        AioWait.waitWhile(idle, () -> flag.get() == 0);
        assertEquals(1, flag.get());
        changer.join();
        assertFalse(idle.isHeldByCurrentThread());
        idle.close();
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void anInterruptedWaiterSleepsInsteadOfSpinningAndKeepsItsInterrupt() throws Exception {
        try (IOThread io = IOThread.start("interrupted-wait", IOThread.UNPINNED)) {
            AioContext ctx = io.context();
            AtomicInteger tests = new AtomicInteger();
            AtomicBoolean busy = new AtomicBoolean(true);
            ctx.acquire();
            Thread.currentThread().interrupt();
            Thread releaser = new Thread(() -> {
                // Let the waiter test the condition a few times, then keep it waiting a while:
                // a parked waiter tests it again only on a kick or a spurious wakeup.
                while (tests.get() < 1) {
                    Thread.onSpinWait();
                }
                try {
                    Thread.sleep(200);
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
                busy.set(false);
                AioWait.kick();
            });
            releaser.start();
            AioWait.waitWhile(ctx, () -> {
                tests.incrementAndGet();
                return busy.get();
            });
            assertTrue(Thread.interrupted(), "the interrupt is handed back");
            releaser.join();
            ctx.release();
            // Spinning on a pending interrupt tests the condition millions of times in 200 ms.
            assertTrue(tests.get() < 1000, "condition tested " + tests.get() + " times");
        }
    }
}
