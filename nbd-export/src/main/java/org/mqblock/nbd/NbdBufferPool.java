package org.mqblock.nbd;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;

/**
 * The server's request buffers: direct buffers in power-of-two size classes (4 KiB to {@link
 * NbdLimits#MAX_REQUEST}), lent to a connection for one request and given back as soon as its
 * reply is written, so they are reused at once instead of waiting for a garbage collection.
 * Everything the pool has made, lent or idle, stays within {@code budget} bytes: that is the
 * server-wide bound on request memory.
 *
 * <p>When a class has no idle buffer and the budget no room for a new one, idle buffers of other
 * classes are dropped to make room (left to the collector: the JDK frees a direct buffer only then;
 * this is the one case, and it happens only when the request sizes change). When even that does
 * not help, {@link #take} returns null and remembers the connection; every {@link #give} then wakes
 * the waiting connections, which try again.
 *
 * <p>Context: any thread (IOThreads of different connections); every method holds the pool's
 * monitor briefly. Allocates nothing once the classes in use hold their buffers.
 */
final class NbdBufferPool {

    /** Called, outside the pool's monitor and in whatever thread gave a buffer back, when room was made. */
    interface Waiter {
        void poolHasRoom();
    }

    static final int MIN_SHIFT = 12;
    static final int MAX_SHIFT = Integer.numberOfTrailingZeros(NbdLimits.MAX_REQUEST);

    private final long budget;

    // Guarded by this.
    @SuppressWarnings("unchecked")
    private final ArrayDeque<ByteBuffer>[] idle = new ArrayDeque[MAX_SHIFT - MIN_SHIFT + 1];
    /** Bytes of every buffer made and not dropped, lent or idle. */
    private long allocated;
    private long idleBytes;
    private final ArrayDeque<Waiter> waiters = new ArrayDeque<>();

    NbdBufferPool(long budget) {
        if (budget < NbdLimits.MAX_REQUEST) {
            throw new IllegalArgumentException("a pool of " + budget + " bytes cannot hold one request of "
                    + NbdLimits.MAX_REQUEST);
        }
        this.budget = budget;
        for (int i = 0; i < idle.length; i++) {
            idle[i] = new ArrayDeque<>();
        }
    }

    /** The capacity of the buffer that {@link #take} lends for {@code length} bytes. */
    static int classSize(int length) {
        if (length <= 1 << MIN_SHIFT) {
            return 1 << MIN_SHIFT;
        }
        if (length > NbdLimits.MAX_REQUEST) {
            throw new IllegalArgumentException("request of " + length + " bytes > " + NbdLimits.MAX_REQUEST);
        }
        return Integer.highestOneBit(length - 1) << 1;
    }

    /**
     * A buffer of at least {@code length} bytes, positioned at {@code [0, length)}, or null when
     * the budget is used up; {@code waiter} is then told once there may be room.
     */
    synchronized ByteBuffer take(int length, Waiter waiter) {
        int size = classSize(length);
        ArrayDeque<ByteBuffer> q = idle[Integer.numberOfTrailingZeros(size) - MIN_SHIFT];
        ByteBuffer b = q.pollFirst();
        if (b == null) {
            if (allocated + size > budget) {
                dropIdle(allocated + size - budget);
            }
            if (allocated + size > budget) {
                if (!waiters.contains(waiter)) {
                    waiters.addLast(waiter);
                }
                return null;
            }
            b = ByteBuffer.allocateDirect(size);
            allocated += size;
        } else {
            idleBytes -= size;
        }
        b.limit(length).position(0);
        return b;
    }

    /** Takes back a buffer from {@link #take}. */
    void give(ByteBuffer b) {
        Waiter[] wake;
        synchronized (this) {
            b.clear();
            idle[Integer.numberOfTrailingZeros(b.capacity()) - MIN_SHIFT].addFirst(b);
            idleBytes += b.capacity();
            if (waiters.isEmpty()) {
                return;
            }
            wake = waiters.toArray(new Waiter[0]); // only after a budget ran out: the copy is no hot-path cost
            waiters.clear();
        }
        for (Waiter w : wake) {
            w.poolHasRoom(); // outside the monitor: a waiter schedules work in its own thread
        }
    }

    /** Forgets a waiter that is going away. */
    synchronized void cancel(Waiter waiter) {
        waiters.remove(waiter);
    }

    private void dropIdle(long need) {
        for (int i = idle.length - 1; i >= 0 && need > 0; i--) {
            ArrayDeque<ByteBuffer> q = idle[i];
            ByteBuffer b;
            while (need > 0 && (b = q.pollFirst()) != null) {
                allocated -= b.capacity();
                idleBytes -= b.capacity();
                need -= b.capacity();
            }
        }
    }

    /** Bytes of buffers made and not dropped (lent or idle). Context: any thread. */
    synchronized long allocatedBytes() {
        return allocated;
    }

    /** Bytes of buffers lent out now. Context: any thread. */
    synchronized long lentBytes() {
        return allocated - idleBytes;
    }
}
