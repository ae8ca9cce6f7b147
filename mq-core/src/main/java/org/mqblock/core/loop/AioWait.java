package org.mqblock.core.loop;

import java.util.Objects;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

/**
 * Waiting for a condition that event loops will make true ({@code AIO_WAIT_WHILE} and
 * {@code aio_wait_kick}, QEMU's block/aio-wait.h).
 *
 * <p>In the context's home thread, {@link #waitWhile} simply polls the context until the condition
 * is false. From another thread (the main loop waiting for an IOThread to drain), it lets go of the
 * context if it holds it, so the IOThread can run the handlers that change the condition, and
 * sleeps: polling its own context if it is the home of one, parking otherwise. Whoever changes
 * such a condition calls {@link #kick()}; every poll that made progress kicks too, so conditions
 * driven by handlers need nothing more.
 */
public final class AioWait {

    private record Waiter(Thread thread, AioContext ownContext) {}

    /** Any thread: incremented before a foreign waiter first tests its condition (volatile). */
    private static final AtomicInteger WAITERS = new AtomicInteger();
    private static final ConcurrentLinkedQueue<Waiter> WAITING = new ConcurrentLinkedQueue<>();

    private AioWait() {}

    /**
     * Returns once {@code condition} is false, running {@code ctx}'s loop meanwhile. The condition
     * is evaluated in the calling thread and must read state published by the loop (volatile or
     * atomic). Context: the home thread of {@code ctx}, or any thread that is not the home thread
     * of a context {@code ctx}'s handlers wait for (the main loop). An interrupt does not end the
     * wait; the thread's interrupt status is as it was when this returns.
     */
    public static void waitWhile(AioContext ctx, BooleanSupplier condition) {
        Objects.requireNonNull(condition, "condition");
        if (ctx.inHomeThread()) {
            while (condition.getAsBoolean()) {
                ctx.poll(true);
            }
            return;
        }
        AioContext own = AioContext.current();
        Waiter me = new Waiter(Thread.currentThread(), own);
        WAITING.add(me);
        WAITERS.incrementAndGet(); // before the first test: a kick after this sees a waiter
        int depth = ctx.releaseAll();
        boolean interrupted = false;
        try {
            while (condition.getAsBoolean()) {
                if (own != null && !own.isClosed()) {
                    own.poll(true);
                } else {
                    LockSupport.park(AioWait.class);
                    // Uninterruptible like AIO_WAIT_WHILE; a pending interrupt would make every
                    // park return at once, so take it now and hand it back on the way out.
                    interrupted |= Thread.interrupted();
                }
            }
        } finally {
            WAITERS.decrementAndGet();
            WAITING.remove(me);
            ctx.reacquire(depth);
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * Wakes every foreign waiter so it tests its condition again ({@code aio_wait_kick}). Context:
     * any thread, after changing state a waiter may test. Costs one volatile load when nobody
     * waits.
     *
     * <p>The caller's volatile write of that state comes before this volatile load of the waiter
     * count, and a waiter's increment of the count before its volatile read of the state, so
     * either the waiter sees the new state or this kick sees the waiter.
     */
    public static void kick() {
        if (WAITERS.get() > 0) {
            for (Waiter w : WAITING) {
                if (w.ownContext() != null) {
                    w.ownContext().aioNotify();
                }
                LockSupport.unpark(w.thread());
            }
        }
    }
}
