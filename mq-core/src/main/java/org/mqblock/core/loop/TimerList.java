package org.mqblock.core.loop;

import java.util.Arrays;

/**
 * The armed timers of one context as a binary min-heap on (deadline, arm order), so arm, re-arm
 * and cancel are O(log n) and the earliest deadline is O(1): the latency driver arms one timer per
 * request. Not threadsafe: used only by the thread holding the context.
 */
final class TimerList {

    private final AioContext ctx;
    private Timer[] heap = new Timer[16];
    private int size;
    private long armSeq;
    private long pass;

    TimerList(AioContext ctx) {
        this.ctx = ctx;
    }

    void arm(Timer t, long deadline) {
        ctx.assertHeld();
        boolean wasEarliest = size > 0 && heap[0] == t;
        t.deadline = deadline;
        t.armSeq = armSeq++;
        if (t.heapIndex < 0) {
            if (size == heap.length) {
                heap = Arrays.copyOf(heap, size * 2);
            }
            t.heapIndex = size;
            heap[size++] = t;
            siftUp(t.heapIndex);
        } else {
            siftUp(t.heapIndex);
            siftDown(t.heapIndex);
        }
        if (heap[0] == t || wasEarliest) {
            ctx.earliestDeadlineChanged();
        }
    }

    void cancel(Timer t) {
        ctx.assertHeld();
        int i = t.heapIndex;
        if (i < 0) {
            return;
        }
        t.heapIndex = -1;
        Timer last = heap[--size];
        heap[size] = null;
        if (last != t) {
            heap[i] = last;
            last.heapIndex = i;
            siftUp(i);
            siftDown(last.heapIndex);
        }
    }

    /** Nanoseconds until the earliest deadline (0 if due), or -1 when nothing is armed. */
    long timeoutNs(long now) {
        return size == 0 ? -1 : Math.max(0, heap[0].deadline - now);
    }

    int armedCount() {
        return size;
    }

    /**
     * Runs every timer due at {@code now}, earliest first. A timer its own callback re-arms for a
     * deadline that is already due waits for the next pass instead of looping here forever.
     */
    boolean runDue(long now) {
        long thisPass = ++pass;
        boolean progress = false;
        while (size > 0) {
            Timer t = heap[0];
            if (t.deadline > now || t.lastPass == thisPass) {
                break;
            }
            cancel(t);
            t.lastPass = thisPass;
            progress = true;
            t.callback.run();
        }
        return progress;
    }

    private static boolean before(Timer a, Timer b) {
        long d = a.deadline - b.deadline; // wrap-safe comparison of nanoTime values
        return d < 0 || (d == 0 && a.armSeq < b.armSeq);
    }

    private void siftUp(int i) {
        Timer t = heap[i];
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            Timer p = heap[parent];
            if (!before(t, p)) {
                break;
            }
            heap[i] = p;
            p.heapIndex = i;
            i = parent;
        }
        heap[i] = t;
        t.heapIndex = i;
    }

    private void siftDown(int i) {
        Timer t = heap[i];
        int half = size >>> 1;
        while (i < half) {
            int child = 2 * i + 1;
            int right = child + 1;
            if (right < size && before(heap[right], heap[child])) {
                child = right;
            }
            if (!before(heap[child], t)) {
                break;
            }
            heap[i] = heap[child];
            heap[i].heapIndex = i;
            i = child;
        }
        heap[i] = t;
        t.heapIndex = i;
    }
}
