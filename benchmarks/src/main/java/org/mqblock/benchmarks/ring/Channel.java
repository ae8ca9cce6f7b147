package org.mqblock.benchmarks.ring;

import com.lmax.disruptor.BusySpinWaitStrategy;
import com.lmax.disruptor.EventPoller;
import com.lmax.disruptor.RingBuffer;
import java.nio.ByteBuffer;
import java.util.AbstractCollection;
import java.util.Collections;
import java.util.Iterator;
import java.util.concurrent.ArrayBlockingQueue;
import org.agrona.concurrent.MessageHandler;
import org.agrona.concurrent.OneToOneConcurrentArrayQueue;
import org.agrona.concurrent.UnsafeBuffer;
import org.agrona.concurrent.ringbuffer.OneToOneRingBuffer;
import org.agrona.concurrent.ringbuffer.RingBufferDescriptor;
import org.jctools.queues.SpscArrayQueue;
import org.mqblock.core.ring.SpscLongRing;
import org.mqblock.core.ring.SpscRing;

/**
 * One single-producer single-consumer channel under test, behind the four operations the ring
 * benchmarks need. Each JMH fork runs one implementation, so every call site here sees a single
 * receiver class and the JIT inlines through it.
 *
 * <p>The producer side ({@link #offer}, {@link #fill}) is called by one thread and the consumer
 * side ({@link #poll}, {@link #drain}) by another; no method allocates. Reference queues carry the
 * one shared {@link #ELEMENT}; the others carry a long.
 */
abstract class Channel {
    /** The element every reference queue carries: cached, so offering it never boxes. */
    static final Object ELEMENT = Integer.valueOf(1);

    /** The names accepted by {@link #create}, as the benchmarks' {@code impl} parameter. */
    static final String SPSC_RING = "SpscRing";
    static final String SPSC_LONG_RING = "SpscLongRing";
    static final String JCTOOLS = "JCToolsSpsc";
    static final String AGRONA_QUEUE = "AgronaQueue";
    static final String AGRONA_RING_BUFFER = "AgronaRingBuffer";
    static final String DISRUPTOR = "Disruptor";
    static final String ABQ = "ArrayBlockingQueue";

    /** Producer: adds one element; false if full. */
    abstract boolean offer();

    /**
     * Producer: adds up to {@code n} elements, batched where the implementation can; returns how many.
     * Without a batch operation: offers one at a time until full.
     */
    int fill(int n) {
        int i = 0;
        while (i < n && offer()) {
            i++;
        }
        return i;
    }

    /** Consumer: removes one element; false if empty. */
    abstract boolean poll();

    /** Consumer: removes up to {@code n} elements, batched where the implementation can; returns how many. */
    abstract int drain(int n);

    static Channel create(String impl, int capacity) {
        return switch (impl) {
            case SPSC_RING -> new OfSpscRing(capacity);
            case SPSC_LONG_RING -> new OfSpscLongRing(capacity);
            case JCTOOLS -> new OfJCTools(capacity);
            case AGRONA_QUEUE -> new OfAgronaQueue(capacity);
            case AGRONA_RING_BUFFER -> new OfAgronaRingBuffer(capacity);
            case DISRUPTOR -> new OfDisruptor(capacity);
            case ABQ -> new OfArrayBlockingQueue(capacity);
            default -> throw new IllegalArgumentException("unknown ring implementation '" + impl + "'; expected one of "
                    + String.join(", ", SPSC_RING, SPSC_LONG_RING, JCTOOLS, AGRONA_QUEUE, AGRONA_RING_BUFFER, DISRUPTOR, ABQ));
        };
    }

    /** Our ring: batch {@code fill}/{@code drain} hand the indices over once per batch. */
    static final class OfSpscRing extends Channel {
        private final SpscRing<Object> ring;
        private final java.util.function.Supplier<Object> supply = () -> ELEMENT;
        private final java.util.function.Consumer<Object> sink = e -> { };

        OfSpscRing(int capacity) {
            ring = new SpscRing<>(capacity);
        }

        @Override boolean offer() { return ring.offer(ELEMENT); }
        @Override int fill(int n) { return ring.fill(supply, n); }
        @Override boolean poll() { return ring.poll() != null; }
        @Override int drain(int n) { return ring.drain(sink, n); }
    }

    /** Our primitive ring: no references at all (no GC card marks); {@code 0} means empty. */
    static final class OfSpscLongRing extends Channel {
        private final SpscLongRing ring;
        private final java.util.function.LongSupplier supply = () -> 1L;
        private final java.util.function.LongConsumer sink = v -> { };

        OfSpscLongRing(int capacity) {
            ring = new SpscLongRing(capacity);
        }

        @Override boolean offer() { return ring.offer(1L); }
        @Override int fill(int n) { return ring.fill(supply, n); }
        @Override boolean poll() { return ring.poll(0L) != 0L; }
        @Override int drain(int n) { return ring.drain(sink, n); }
    }

    /** The baseline: JCTools' SpscArrayQueue with its MessagePassingQueue fill/drain. */
    static final class OfJCTools extends Channel {
        private final SpscArrayQueue<Object> queue;
        private final org.jctools.queues.MessagePassingQueue.Supplier<Object> supply = () -> ELEMENT;
        private final org.jctools.queues.MessagePassingQueue.Consumer<Object> sink = e -> { };

        OfJCTools(int capacity) {
            queue = new SpscArrayQueue<>(capacity);
        }

        @Override boolean offer() { return queue.offer(ELEMENT); }
        @Override int fill(int n) { return queue.fill(supply, n); }
        @Override boolean poll() { return queue.poll() != null; }
        @Override int drain(int n) { return queue.drain(sink, n); }
    }

    /** Agrona's OneToOneConcurrentArrayQueue: batch drain, but no batch offer (offers in a loop). */
    static final class OfAgronaQueue extends Channel {
        private final OneToOneConcurrentArrayQueue<Object> queue;
        private final java.util.function.Consumer<Object> sink = e -> { };

        OfAgronaQueue(int capacity) {
            queue = new OneToOneConcurrentArrayQueue<>(capacity);
        }

        @Override boolean offer() { return queue.offer(ELEMENT); }

        @Override boolean poll() { return queue.poll() != null; }
        @Override int drain(int n) { return queue.drain(sink, n); }
    }

    /**
     * Agrona's OneToOneRingBuffer: 8-byte messages copied from one preallocated buffer, so each
     * record takes 16 bytes (8 header + 8 payload) and {@code capacity} records fit. Batch read;
     * writes one message at a time.
     */
    static final class OfAgronaRingBuffer extends Channel {
        private static final int MSG_TYPE = 1;
        private static final int RECORD_BYTES = 16;

        private final OneToOneRingBuffer ring;
        private final UnsafeBuffer message = new UnsafeBuffer(new byte[Long.BYTES]);
        private final Reader reader = new Reader();

        /** Consumer thread only: reads each payload, so the consumer touches what it received. */
        private static final class Reader implements MessageHandler {
            long last;

            @Override
            public void onMessage(int msgTypeId, org.agrona.MutableDirectBuffer buffer, int index, int length) {
                last = buffer.getLong(index);
            }
        }

        OfAgronaRingBuffer(int capacity) {
            int bytes = Integer.highestOneBit(Math.max(1, capacity) * RECORD_BYTES - 1) << 1;
            ring = new OneToOneRingBuffer(new UnsafeBuffer(
                    ByteBuffer.allocateDirect(bytes + RingBufferDescriptor.TRAILER_LENGTH)));
            message.putLong(0, 1L);
        }

        @Override boolean offer() { return ring.write(MSG_TYPE, message, 0, Long.BYTES); }

        @Override boolean poll() { return ring.read(reader, 1) == 1; }
        @Override int drain(int n) { return ring.read(reader, n); }
    }

    /**
     * LMAX Disruptor, single producer, busy-spin wait strategy (unused by the poller: nobody
     * blocks). Preallocated events; the consumer is an {@link EventPoller} on the benchmark's own
     * consumer thread rather than a BatchEventProcessor, so that both threads are JMH's.
     */
    static final class OfDisruptor extends Channel {
        /** A preallocated slot. Written by the producer before publish; read by the consumer after. */
        static final class LongEvent {
            long value;
        }

        /** Consumer thread only: counts events and stops the poller after {@code limit}. */
        private static final class Counter implements EventPoller.Handler<LongEvent> {
            int limit;
            int count;
            long last;

            @Override
            public boolean onEvent(LongEvent event, long sequence, boolean endOfBatch) {
                last = event.value;
                return ++count < limit;
            }
        }

        private final RingBuffer<LongEvent> ring;
        private final EventPoller<LongEvent> poller;
        private final Counter counter = new Counter();

        OfDisruptor(int capacity) {
            ring = RingBuffer.createSingleProducer(LongEvent::new, capacity, new BusySpinWaitStrategy());
            poller = ring.newPoller();
            ring.addGatingSequences(poller.getSequence());
        }

        @Override
        boolean offer() {
            if (!ring.hasAvailableCapacity(1)) {
                return false;
            }
            long seq = ring.next();
            ring.get(seq).value = seq;
            ring.publish(seq);
            return true;
        }

        @Override
        int fill(int n) {
            int k = n;
            if (!ring.hasAvailableCapacity(n)) {
                // Only the batch that fits; remainingCapacity reads the consumer's sequence.
                k = (int) Math.min(n, ring.remainingCapacity());
                if (k <= 0) {
                    return 0;
                }
            }
            long hi = ring.next(k);
            long lo = hi - k + 1;
            for (long s = lo; s <= hi; s++) {
                ring.get(s).value = s;
            }
            ring.publish(lo, hi);
            return k;
        }

        @Override boolean poll() { return drain(1) == 1; }

        @Override
        int drain(int n) {
            Counter c = counter;
            c.limit = n;
            c.count = 0;
            try {
                poller.poll(c);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
            return c.count;
        }
    }

    /** The lock-based baseline: offer/poll, drainTo for the batch (one lock acquisition per batch). */
    static final class OfArrayBlockingQueue extends Channel {
        private final ArrayBlockingQueue<Object> queue;
        private final Discard sink = new Discard();

        /** A collection that accepts and forgets, so drainTo allocates nothing. Consumer thread only. */
        private static final class Discard extends AbstractCollection<Object> {
            @Override public boolean add(Object e) { return true; }
            @Override public Iterator<Object> iterator() { return Collections.emptyIterator(); }
            @Override public int size() { return 0; }
        }

        OfArrayBlockingQueue(int capacity) {
            queue = new ArrayBlockingQueue<>(capacity);
        }

        @Override boolean offer() { return queue.offer(ELEMENT); }

        @Override boolean poll() { return queue.poll() != null; }
        @Override int drain(int n) { return queue.drainTo(sink, n); }
    }
}
