package org.mqblock.core.ring;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Objects;
import java.util.function.LongConsumer;
import java.util.function.LongSupplier;

/* The layout chain, as for SpscRing: cold, pad, producer, pad, consumer, pad. */

/**
 * 128 bytes between the previous object in the heap and the cold fields every operation reads.
 * {@code p0i} fills the 4-byte hole after a 12-byte header, which HotSpot (JDK 15+) would otherwise
 * give to a subclass's int field (the ring's mask), placing it in front of the pad.
 */
abstract class SpscLongRingL0Pad {
    int p0i;
    long p00, p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15;
}

/** Fields written once, in the constructor, and read by both threads: they may share a line. */
abstract class SpscLongRingColdFields extends SpscLongRingL0Pad {
    /** Unused slots at each end of {@link #buffer}: 16 longs, 128 bytes. */
    static final int PAD_SLOTS = 16;

    /** Written by the constructor only; read plain by both threads (final-field semantics). */
    final long[] buffer;
    /** {@code capacity - 1}; written by the constructor only. */
    final int mask;

    SpscLongRingColdFields(int requestedCapacity) {
        final int capacity = Rings.capacityFor(requestedCapacity);
        this.mask = capacity - 1;
        this.buffer = new long[capacity + 2 * PAD_SLOTS];
    }
}

abstract class SpscLongRingL1Pad extends SpscLongRingColdFields {
    long p00, p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15;

    SpscLongRingL1Pad(int requestedCapacity) {
        super(requestedCapacity);
    }
}

/** The producer's line: written only by the producer thread. */
abstract class SpscLongRingProducerFields extends SpscLongRingL1Pad {
    static final VarHandle PRODUCER_INDEX;

    static {
        try {
            PRODUCER_INDEX = MethodHandles.lookup()
                    .findVarHandle(SpscLongRingProducerFields.class, "producerIndex", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /**
     * Index of the next slot to fill. Written by the producer only, with a release store after the
     * slots it covers (this store is what publishes them); read plain by the producer, with an
     * acquire load by the consumer when its {@code consumerLimit} runs out and by {@code size()}.
     */
    long producerIndex;

    /**
     * The producer's cached view of the consumer: {@code consumerIndex + capacity} as last read.
     * Producer only, plain.
     */
    long producerLimit;

    SpscLongRingProducerFields(int requestedCapacity) {
        super(requestedCapacity);
        this.producerLimit = mask + 1L;
    }

    final long lpProducerIndex() {
        return producerIndex;
    }

    final long laProducerIndex() {
        return (long) PRODUCER_INDEX.getAcquire(this);
    }

    final void soProducerIndex(long v) {
        PRODUCER_INDEX.setRelease(this, v);
    }
}

abstract class SpscLongRingL2Pad extends SpscLongRingProducerFields {
    long p00, p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15;

    SpscLongRingL2Pad(int requestedCapacity) {
        super(requestedCapacity);
    }
}

/** The consumer's line: written only by the consumer thread. */
abstract class SpscLongRingConsumerFields extends SpscLongRingL2Pad {
    static final VarHandle CONSUMER_INDEX;

    static {
        try {
            CONSUMER_INDEX = MethodHandles.lookup()
                    .findVarHandle(SpscLongRingConsumerFields.class, "consumerIndex", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /**
     * Index of the next slot to take. Written by the consumer only, with a release store after it
     * has read the slots it covers; read plain by the consumer, with an acquire load by the
     * producer when its {@code producerLimit} runs out and by {@code size()} in any thread.
     */
    long consumerIndex;

    /**
     * The consumer's cached view of the producer: {@code producerIndex} as last read. Every slot
     * below it holds a published value. Consumer only, plain.
     */
    long consumerLimit;

    SpscLongRingConsumerFields(int requestedCapacity) {
        super(requestedCapacity);
    }

    final long lpConsumerIndex() {
        return consumerIndex;
    }

    final long laConsumerIndex() {
        return (long) CONSUMER_INDEX.getAcquire(this);
    }

    final void soConsumerIndex(long v) {
        CONSUMER_INDEX.setRelease(this, v);
    }
}

abstract class SpscLongRingL3Pad extends SpscLongRingConsumerFields {
    long p00, p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15;

    SpscLongRingL3Pad(int requestedCapacity) {
        super(requestedCapacity);
    }
}

/**
 * A bounded, lock-free, wait-free FIFO ring of primitive {@code long}s (request handles, say) for
 * exactly one producer thread and one consumer thread, without boxing. Not threadsafe beyond one
 * producer and one consumer.
 *
 * <p>The capacity is the requested capacity rounded up to a power of two. Every {@code long} is a
 * valid element, 0 included.
 *
 * <h2>Contract</h2>
 * {@link #offer}, {@link #fill} are called by the producer thread only; {@link #poll},
 * {@link #peek}, {@link #drain} by the consumer thread only; {@link #size}, {@link #isEmpty},
 * {@link #capacity} by any thread. Values come out in the order they went in, each exactly once,
 * and an offer happens-before the poll or drain that returns its value.
 *
 * <h2>Algorithm</h2>
 * No value can mean "empty slot", so the ring is Lamport's, with each side caching the other's
 * index (as in B-Queue and Agrona): slots are read and written plain and published by the indices.
 * <ul>
 *   <li>The producer stores values plain, then advances {@code producerIndex} with a release
 *       store. The consumer's acquire load of {@code producerIndex} pairs with it: every slot
 *       below the value it reads holds a published value. The consumer caches that value in
 *       {@code consumerLimit} and reads the producer's line again only when it has consumed up to
 *       it.
 *   <li>The consumer reads values plain, then advances {@code consumerIndex} with a release store
 *       (release orders the earlier loads too). The producer's acquire load of
 *       {@code consumerIndex} pairs with it: every slot below it has been read, so the producer
 *       may overwrite slots up to {@code consumerIndex + capacity}, which it caches in
 *       {@code producerLimit}.
 * </ul>
 * Batches ({@link #fill}, {@link #drain}) store their index once per batch.
 *
 * <p>Since the consumer does not write the slots, the slot lines only ever travel from the
 * producer to the consumer. The price, compared with {@link SpscRing}'s null checks, is that a
 * consumer which keeps catching up reads the producer's index line once per refill.
 *
 * <p>Operations never block, spin or allocate; every call finishes in a bounded number of steps.
 */
public final class SpscLongRing extends SpscLongRingL3Pad {

    private static final VarHandle SLOT = MethodHandles.arrayElementVarHandle(long[].class);

    /**
     * Creates an empty ring.
     *
     * <p>Context: any thread; the ring must then reach its producer and consumer threads through a
     * happens-before edge (a {@code final} field, {@code Thread.start}, a queue hand-off).
     *
     * @param requestedCapacity at least this many values fit; rounded up to a power of two
     * @throws IllegalArgumentException if {@code requestedCapacity} is not in {@code [1, 2^30]}
     */
    public SpscLongRing(int requestedCapacity) {
        super(requestedCapacity);
    }

    private static int slot(long index, int mask) {
        return PAD_SLOTS + ((int) index & mask);
    }

    private static long lpSlot(long[] buffer, int slot) {
        return (long) SLOT.get(buffer, slot);
    }

    private static void spSlot(long[] buffer, int slot, long v) {
        SLOT.set(buffer, slot, v);
    }

    /**
     * Adds {@code value} if there is room.
     *
     * <p>Context: producer thread only.
     *
     * @return {@code true} if added, {@code false} if the ring was full
     */
    public boolean offer(long value) {
        final long producerIndex = lpProducerIndex();
        if (producerIndex >= producerLimit && !offerSlowPath(producerIndex)) {
            return false;
        }
        // Plain: published by the release store of producerIndex below.
        spSlot(buffer, slot(producerIndex, mask), value);
        // Publishes the slot; pairs with the acquire load in pollSlowPath / size().
        soProducerIndex(producerIndex + 1);
        return true;
    }

    /** Refreshes {@code producerLimit}; returns whether the slot for {@code producerIndex} is free. */
    private boolean offerSlowPath(long producerIndex) {
        // Pairs with the release store of consumerIndex in poll/drain: every slot below the new
        // limit has been read by the consumer before we overwrite it.
        final long limit = laConsumerIndex() + mask + 1L;
        producerLimit = limit;
        return producerIndex < limit;
    }

    /**
     * Adds up to {@code n} values taken from {@code supplier}, in order, and returns how many:
     * {@code n}, or fewer if the ring filled up. The supplier is called exactly that many times.
     *
     * <p>Equivalent to that many {@link #offer}s, stopping at the first that finds the ring full,
     * but published with one release store for the batch. When the cached limit runs out the call
     * publishes what it holds before it reads the consumer's index again, so "full" is only ever
     * concluded with nothing held back.
     *
     * <p>If the supplier throws, the values it supplied before are published and the exception
     * propagates.
     *
     * <p>Context: producer thread only.
     *
     * @throws IllegalArgumentException if {@code n < 0}
     */
    public int fill(LongSupplier supplier, int n) {
        Objects.requireNonNull(supplier, "supplier");
        if (n < 0) {
            throw new IllegalArgumentException("n must be >= 0: " + n);
        }
        final long[] buffer = this.buffer;
        final int mask = this.mask;
        final long start = lpProducerIndex();
        final long end = start + n;
        long index = start;
        long published = start;
        try {
            while (index < end) {
                long limit = producerLimit;
                if (index >= limit) {
                    if (index != published) {
                        // Publishes the values so far; pairs with the acquire load in
                        // pollSlowPath / size().
                        soProducerIndex(index);
                        published = index;
                    }
                    offerSlowPath(index);
                    limit = producerLimit;
                    if (index >= limit) {
                        break;
                    }
                }
                final long stop = Math.min(end, limit);
                for (; index < stop; index++) {
                    // Plain: published by the release store of producerIndex.
                    spSlot(buffer, slot(index, mask), supplier.getAsLong());
                }
            }
        } finally {
            if (index != published) {
                // Publishes the batch; pairs with the acquire load in pollSlowPath / size().
                soProducerIndex(index);
            }
        }
        return (int) (index - start);
    }

    /**
     * Removes and returns the oldest value, or {@code valueIfEmpty} if the ring is empty. Pick a
     * sentinel outside the domain of values (a negative handle, say); where every {@code long} is
     * possible use {@code drain(consumer, 1)}, which returns a count instead.
     *
     * <p>Context: consumer thread only.
     */
    public long poll(long valueIfEmpty) {
        final long consumerIndex = lpConsumerIndex();
        if (consumerIndex >= consumerLimit && !pollSlowPath(consumerIndex)) {
            return valueIfEmpty;
        }
        // Plain: ordered after the acquire load of producerIndex that raised consumerLimit.
        final long value = lpSlot(buffer, slot(consumerIndex, mask));
        // Frees the slot; pairs with the acquire load in offerSlowPath / size().
        soConsumerIndex(consumerIndex + 1);
        return value;
    }

    /** Refreshes {@code consumerLimit}; returns whether a value is available. */
    private boolean pollSlowPath(long consumerIndex) {
        // Pairs with the release store of producerIndex in offer/fill.
        final long limit = laProducerIndex();
        consumerLimit = limit;
        return consumerIndex < limit;
    }

    /**
     * Returns the oldest value without removing it, or {@code valueIfEmpty} if the ring is empty.
     *
     * <p>Context: consumer thread only.
     */
    public long peek(long valueIfEmpty) {
        final long consumerIndex = lpConsumerIndex();
        if (consumerIndex >= consumerLimit && !pollSlowPath(consumerIndex)) {
            return valueIfEmpty;
        }
        return lpSlot(buffer, slot(consumerIndex, mask));
    }

    /**
     * Removes up to {@code limit} values, oldest first, passing each to {@code consumer}, and
     * returns how many were removed.
     *
     * <p>Equivalent to that many {@link #poll}s, stopping at the first that finds the ring empty,
     * but the slots are handed back to the producer with one release store for the batch. When
     * the cached producer index runs out the call hands back what it holds before it reads the
     * producer's index again, so "empty" is only ever concluded with nothing held back.
     *
     * <p>If the consumer throws, the value it was given and those before it count as removed and
     * the exception propagates.
     *
     * <p>Context: consumer thread only.
     *
     * @throws IllegalArgumentException if {@code limit < 0}
     */
    public int drain(LongConsumer consumer, int limit) {
        Objects.requireNonNull(consumer, "consumer");
        if (limit < 0) {
            throw new IllegalArgumentException("limit must be >= 0: " + limit);
        }
        final long[] buffer = this.buffer;
        final int mask = this.mask;
        final long start = lpConsumerIndex();
        final long end = start + limit;
        long index = start;
        long released = start;
        try {
            while (index < end) {
                long available = consumerLimit;
                if (index >= available) {
                    if (index != released) {
                        // Hand back what we hold; pairs with the acquire load in offerSlowPath /
                        // size().
                        soConsumerIndex(index);
                        released = index;
                    }
                    pollSlowPath(index);
                    available = consumerLimit;
                    if (index >= available) {
                        break;
                    }
                }
                final long stop = Math.min(end, available);
                while (index < stop) {
                    // Plain: ordered after the acquire load of producerIndex that raised
                    // consumerLimit.
                    final long value = lpSlot(buffer, slot(index, mask));
                    index++;
                    consumer.accept(value);
                }
            }
        } finally {
            if (index != released) {
                // Frees the batch; pairs with the acquire load in offerSlowPath / size().
                soConsumerIndex(index);
            }
        }
        return (int) (index - start);
    }

    /**
     * {@link #drain(LongConsumer, int)} with {@code limit = capacity()}.
     *
     * <p>Context: consumer thread only.
     */
    public int drain(LongConsumer consumer) {
        return drain(consumer, capacity());
    }

    /**
     * The number of values, in {@code [0, capacity()]}: linearizable from any thread, since the
     * indices are what publish and free slots. Under concurrency it is a snapshot that may be
     * stale by the time it returns.
     *
     * <p>Context: any thread.
     */
    public int size() {
        // Retry until the consumer index is the same on both sides of the producer-index read, so
        // the two values coexisted. Both loads pair with the release stores of the indices.
        long after = laConsumerIndex();
        long before;
        long producerIndex;
        do {
            before = after;
            producerIndex = laProducerIndex();
            after = laConsumerIndex();
        } while (before != after);
        return Rings.clampSize(producerIndex - after, mask + 1);
    }

    /**
     * Whether {@link #size()} is zero; the same caveats apply.
     *
     * <p>Context: any thread.
     */
    public boolean isEmpty() {
        return size() == 0;
    }

    /**
     * The capacity: the requested capacity rounded up to a power of two.
     *
     * <p>Context: any thread.
     */
    public int capacity() {
        return mask + 1;
    }

    /** Context: any thread (the size is an estimate, as for {@link #size()}). */
    @Override
    public String toString() {
        return "SpscLongRing[capacity=" + capacity() + ", size=" + size() + "]";
    }
}
