package org.mqblock.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.GatheringByteChannel;
import java.util.Arrays;

/**
 * A connection's output: the buffers queued to go out, in order, written with one gathering write
 * per flush. A buffer may carry the request slot it belongs to; the slot is handed to the {@link
 * Owner} once that buffer (the last of its reply) is written, or when the queue is cleared, so
 * header and data buffers are never reused while the kernel may still be reading them.
 *
 * <p>Not threadsafe: the connection's IOThread only.
 */
final class NbdReplyQueue {

    /** Gets back each slot whose reply is out (or dropped). */
    interface Owner {
        void replyDone(NbdRequest slot);
    }

    private final Owner owner;
    private final ByteBuffer[] out;
    /** Slot to give back once out[i] has been written, else null. */
    private final NbdRequest[] slotOf;
    private int head;
    private int tail;

    NbdReplyQueue(int capacity, Owner owner) {
        this.owner = owner;
        this.out = new ByteBuffer[capacity];
        this.slotOf = new NbdRequest[capacity];
    }

    boolean isEmpty() {
        return head == tail;
    }

    /** Queues {@code b}; {@code slot} (or null) is given back once it is written. */
    void add(ByteBuffer b, NbdRequest slot) {
        if (tail == out.length) {
            int n = tail - head;
            if (n == out.length) {
                throw new IllegalStateException("reply queue of " + out.length + " buffers is full");
            }
            System.arraycopy(out, head, out, 0, n);
            System.arraycopy(slotOf, head, slotOf, 0, n);
            Arrays.fill(out, n, tail, null);
            Arrays.fill(slotOf, n, tail, null);
            head = 0;
            tail = n;
        }
        out[tail] = b;
        slotOf[tail] = slot;
        tail++;
    }

    /**
     * Writes what is queued, one gathering write at a time until the queue is empty or the socket
     * is full; returns whether the queue is empty.
     */
    boolean flush(GatheringByteChannel channel) throws IOException {
        while (head < tail) {
            long n = channel.write(out, head, tail - head);
            while (head < tail && !out[head].hasRemaining()) {
                pop();
            }
            if (n == 0) {
                break; // socket buffer full
            }
        }
        if (head == tail) {
            head = tail = 0;
            return true;
        }
        return false;
    }

    /** Drops everything queued (the socket is gone), giving every slot back. */
    void clear() {
        while (head < tail) {
            pop();
        }
        head = tail = 0;
    }

    private void pop() {
        NbdRequest s = slotOf[head];
        out[head] = null;
        slotOf[head] = null;
        head++;
        if (s != null) {
            owner.replyDone(s);
        }
    }
}
