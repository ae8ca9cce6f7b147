package org.mqblock.block;

import java.util.concurrent.locks.ReentrantLock;

/**
 * Keeps a read-modify-write from interleaving with an overlapping write on any queue of the node
 * (QEMU's serialising tracked requests, {@code bdrv_make_request_serialising} and {@code
 * bdrv_wait_serialising_requests}).
 *
 * <p>Two paths. While no serialising request is active ({@link #serialising()} is 0, the common
 * case) a write takes the fast path in its queue, lock-free and allocation-free: it counts itself
 * in its queue's {@code fastWrites} (a volatile store) and then reads {@link #serialising()} (a
 * volatile load). A serialising request does the opposite under the lock here: it raises {@link
 * #serialising} (volatile store) and then reads every queue's {@code fastWrites}. Both are
 * volatile, so at least one side sees the other (Dekker): either the write sees the serialising
 * request and leaves the fast path (undoing its count) to enter the tracker, or the serialising
 * request sees the write counted and waits until every fast write has completed. No new fast write
 * starts while a serialising request is active, so those counts only fall; the queue whose count
 * falls calls {@link #fastWritesDrained()} when it sees {@link #serialising()} non-zero (its
 * decrement before that load pairs with the increment of {@link #serialising} before the load of
 * the counts here).
 *
 * <p>Requests in the tracker wait, in order of entry, for every earlier one they conflict with
 * (they overlap and one of them is serialising); nobody waits for a later one, so there is no
 * deadlock. A request the tracker lets go later resumes in its own context.
 *
 * <p>Context: any queue's thread; the lock is held for a scan of the (short) list of tracked
 * requests, never across I/O.
 */
final class OverlapTracker {

    private final BlockDriverState bs;
    private final ReentrantLock lock = new ReentrantLock();

    // Under lock: the tracked requests in order of entry.
    private TrackedRange head;
    private TrackedRange tail;

    /** Written under lock (volatile store); every queue's fast path reads it (volatile load). */
    private volatile int serialising;

    OverlapTracker(BlockDriverState bs) {
        this.bs = bs;
    }

    /** Serialising requests active on the node now. Context: any thread (volatile). */
    int serialising() {
        return serialising;
    }

    /**
     * Enters {@code t}; returns true if it may run now, else its {@code resume} runs in its
     * context once it may. Context: the owning queue's thread.
     */
    boolean enter(TrackedRange t) {
        lock.lock();
        try {
            t.prev = tail;
            t.next = null;
            if (tail == null) {
                head = t;
            } else {
                tail.next = t;
            }
            tail = t;
            if (t.serialising) {
                serialising = serialising + 1; // before reading the fast-write counts (Dekker, see class comment)
            }
            t.waiting = !mayRun(t);
            return !t.waiting;
        } finally {
            lock.unlock();
        }
    }

    /** Removes {@code t} (its I/O is done) and lets go whatever waited for it. Context: the owning queue's thread. */
    void exit(TrackedRange t) {
        lock.lock();
        try {
            if (t.prev == null) {
                head = t.next;
            } else {
                t.prev.next = t.next;
            }
            if (t.next == null) {
                tail = t.prev;
            } else {
                t.next.prev = t.prev;
            }
            t.prev = null;
            t.next = null;
            if (t.serialising) {
                serialising = serialising - 1;
            }
            resumeRunnable();
        } finally {
            lock.unlock();
        }
    }

    /** A queue's fast writes fell while a serialising request was active. Context: that queue's thread. */
    void fastWritesDrained() {
        lock.lock();
        try {
            resumeRunnable();
        } finally {
            lock.unlock();
        }
    }

    private boolean mayRun(TrackedRange t) {
        for (TrackedRange e = head; e != t; e = e.next) {
            if ((e.serialising || t.serialising) && e.overlaps(t)) {
                return false;
            }
        }
        return !t.serialising || bs.fastWritesInFlight() == 0;
    }

    private void resumeRunnable() {
        for (TrackedRange e = head; e != null; e = e.next) {
            if (e.waiting && mayRun(e)) {
                e.waiting = false;
                e.ctx.schedule(e.resume); // allocates: only while unaligned writes are active
            }
        }
    }

    /** Tracked requests now (tests, assertions). Context: any thread. */
    int size() {
        lock.lock();
        try {
            int n = 0;
            for (TrackedRange e = head; e != null; e = e.next) {
                n++;
            }
            return n;
        } finally {
            lock.unlock();
        }
    }
}
