package org.mqblock.block;

import java.util.ArrayDeque;
import java.util.concurrent.locks.ReentrantLock;
import org.mqblock.core.loop.AioContext;

/**
 * A mutex for asynchronous code spread over several contexts ({@code CoMutex} without
 * coroutines): a holder keeps it across asynchronous steps and may release it from another
 * thread; a waiter does not block its thread but leaves a continuation, which runs in the
 * waiter's own context once the mutex is handed to it. Hand-off is FIFO.
 *
 * <p>Used where one node needs its updates serialized while its queues run on many IOThreads:
 * a thin image's metadata, or every request of a driver that is not multiqueue-safe. A contended
 * lock allocates one small waiter; an uncontended one allocates nothing.
 */
public final class AsyncMutex {

    private record Waiter(AioContext ctx, Runnable continuation) {}

    /** Guards the two fields below for a few instructions at a time; never held across I/O. */
    private final ReentrantLock guard = new ReentrantLock();
    private boolean held;
    private final ArrayDeque<Waiter> waiters = new ArrayDeque<>();

    /**
     * Takes the mutex if it is free and returns true: the caller continues inline, holding it.
     * Otherwise queues {@code continuation} to run in {@code ctx}, holding the mutex, once it is
     * handed over, and returns false. Context: {@code ctx}'s thread.
     */
    public boolean lockOrQueue(AioContext ctx, Runnable continuation) {
        guard.lock();
        try {
            if (!held) {
                held = true;
                return true;
            }
            waiters.addLast(new Waiter(ctx, continuation));
            return false;
        } finally {
            guard.unlock();
        }
    }

    /** Releases the mutex, handing it to the oldest waiter if any. Context: the holder, any thread. */
    public void unlock() {
        Waiter next;
        guard.lock();
        try {
            if (!held) {
                throw new IllegalStateException("AsyncMutex unlocked while free");
            }
            next = waiters.pollFirst();
            if (next == null) {
                held = false;
                return;
            }
        } finally {
            guard.unlock();
        }
        next.ctx().schedule(next.continuation()); // still held: now on the waiter's behalf
    }

    /** Whether someone holds the mutex (for tests and assertions). Context: any thread. */
    public boolean isHeld() {
        guard.lock();
        try {
            return held;
        } finally {
            guard.unlock();
        }
    }
}
