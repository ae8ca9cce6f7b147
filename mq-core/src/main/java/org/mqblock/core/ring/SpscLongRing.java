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
    /** Unused longs at each end of {@link #buffer}: 128 bytes. */
    static final int PAD_LONGS = 16;
    /** Longs per slot: the slot's state word, then its value. */
    static final int SLOT_LONGS = 2;

    /**
     * The slots, {@value #SLOT_LONGS} longs each: a state word ({@code FREE} or {@code FULL}) and the
     * value beside it, in the same cache line. Written by the constructor only; read plain by both
     * threads (final-field semantics).
     */
    final long[] buffer;
    /** {@code capacity - 1}; written by the constructor only. */
    final int mask;

    SpscLongRingColdFields(int requestedCapacity) {
        final int capacity = Rings.capacityFor(requestedCapacity);
        this.mask = capacity - 1;
        this.buffer = new long[SLOT_LONGS * capacity + 2 * PAD_LONGS];
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
     * slots it covers; read plain by the producer, with an acquire load by {@code size()} in any
     * thread. The consumer never reads it: it finds values by their slots' state words.
     */
    long producerIndex;

    /**
     * Every slot below this index is known to be free: the producer fills up to it without loading
     * a state word or anything the consumer writes. Producer only, plain.
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
     * has freed the slots it covers; read plain by the consumer, with an acquire load by
     * {@code size()} in any thread. The producer never reads it: it finds free slots by their
     * state words.
     */
    long consumerIndex;

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
 * {@link SpscRing}'s, with a state word beside each value standing in for the reference that is
 * null or not (no value can mean "empty", so the slot carries its state apart). Each slot is two
 * longs in one cache line, the state word and the value:
 * <ul>
 *   <li><b>Consumer: state checks.</b> The producer stores the value plain, then the state word
 *       {@code FULL} with a release store; the consumer's acquire load of the state word pairs with
 *       it, so a {@code FULL} slot holds a published value. The consumer never reads
 *       {@code producerIndex}.
 *   <li><b>Producer: slot look-ahead.</b> The consumer loads the value, then stores {@code FREE}
 *       with a release store, so the value has been read before the slot can be reused. When the
 *       producer's {@code producerLimit} runs out it loads (acquire) the state word a quarter of the
 *       ring ahead (at most {@value SpscRing#MAX_LOOK_AHEAD}); if that slot is free, every slot
 *       before it is too (the consumer frees in order), and the limit moves there. Otherwise it
 *       checks the next slot alone, which is the line the consumer is working on when the ring runs
 *       full. The producer never reads {@code consumerIndex}. (The earlier Lamport version, where
 *       each side cached the other's index, moved the consumer's index line to the producer every
 *       few offers whenever the ring ran full and the consumer wrote that line on every poll: at
 *       burst 1 it moved about 0.4x of JCTools' SpscArrayQueue throughput.)
 * </ul>
 * {@code producerIndex} and {@code consumerIndex} are kept only so that {@link #size} can be
 * answered from any thread; each costs one store to a line only its owner writes (per batch in
 * {@link #fill} and {@link #drain}).
 *
 * <p>The price of the state word: twice the memory of the values alone, and slot lines that both
 * threads write (the Lamport version's consumer only read them).
 *
 * <p>Operations never block, spin or allocate; every call finishes in a bounded number of steps.
 */
public final class SpscLongRing extends SpscLongRingL3Pad {
    private static final VarHandle SLOT = MethodHandles.arrayElementVarHandle(long[].class);

    /** State word of a slot the producer may fill. Also the value every new array starts with. */
    private static final long FREE = 0L;
    /** State word of a slot holding a published value. */
    private static final long FULL = 1L;

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

    /** Array index of the state word of the slot for ring index {@code index}; the value follows it. */
    private static int slot(long index, int mask) {
        return PAD_LONGS + SLOT_LONGS * ((int) index & mask);
    }

    private static long laState(long[] buffer, int slot) {
        return (long) SLOT.getAcquire(buffer, slot);
    }

    private static void soState(long[] buffer, int slot, long state) {
        SLOT.setRelease(buffer, slot, state);
    }

    private static long lpValue(long[] buffer, int slot) {
        return (long) SLOT.get(buffer, slot + 1);
    }

    private static void spValue(long[] buffer, int slot, long value) {
        SLOT.set(buffer, slot + 1, value);
    }

    /**
     * Adds {@code value} if there is room.
     *
     * <p>Context: producer thread only.
     *
     * @return {@code true} if added, {@code false} if the ring was full
     */
    public boolean offer(long value) {
        final long[] buffer = this.buffer;
        final int mask = this.mask;
        final long producerIndex = lpProducerIndex();
        if (producerIndex >= producerLimit && !offerSlowPath(buffer, mask, producerIndex)) {
            return false;
        }
        final int slot = slot(producerIndex, mask);
        // Plain: published by the release store of the state word below.
        spValue(buffer, slot, value);
        // Publishes the value; pairs with the acquire load of the state word in poll/peek/drain.
        soState(buffer, slot, FULL);
        // For size() only; pairs with the acquire load in size().
        soProducerIndex(producerIndex + 1);
        return true;
    }

    /**
     * Moves {@code producerLimit} a look-ahead step on if that slot is free; otherwise looks at the
     * slot for {@code producerIndex} alone (leaving the limit, so the next offer asks again).
     *
     * @return whether the slot for {@code producerIndex} is free
     */
    private boolean offerSlowPath(long[] buffer, int mask, long producerIndex) {
        final int lookAhead = Math.min((mask + 1) >>> 2, SpscRing.MAX_LOOK_AHEAD);
        // Both loads pair with the release store of FREE in poll/drain: the consumer read that
        // slot's value, and every slot's before it, before freeing it.
        if (lookAhead > 0 && laState(buffer, slot(producerIndex + lookAhead, mask)) == FREE) {
            producerLimit = producerIndex + lookAhead;
            return true;
        }
        return laState(buffer, slot(producerIndex, mask)) == FREE;
    }

    /**
     * Adds up to {@code n} values taken from {@code supplier}, in order, and returns how many:
     * {@code n}, or fewer if the ring filled up. The supplier is called exactly that many times.
     *
     * <p>Equivalent to that many {@link #offer}s, stopping at the first that finds the ring full:
     * each value is visible to the consumer as soon as its slot is published, so a batch is not
     * atomic. Slots are looked at only when the known-free limit runs out, and
     * {@code producerIndex} is stored once per batch (and before each such look, so that "full" is
     * only ever concluded with nothing held back).
     *
     * <p>If the supplier throws, the values it supplied before are kept and the exception
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
                        // For size() only; pairs with the acquire load in size().
                        soProducerIndex(index);
                        published = index;
                    }
                    if (!offerSlowPath(buffer, mask, index)) {
                        break;
                    }
                    // At least this slot is free, even when the look-ahead did not move the limit.
                    limit = Math.max(producerLimit, index + 1);
                }
                final long stop = Math.min(end, limit);
                for (; index < stop; index++) {
                    final long value = supplier.getAsLong();
                    final int slot = slot(index, mask);
                    // Plain: published by the release store of the state word.
                    spValue(buffer, slot, value);
                    // Publishes the value; pairs with the acquire load in poll/peek/drain.
                    soState(buffer, slot, FULL);
                }
            }
        } finally {
            if (index != published) {
                // For size() only; pairs with the acquire load in size().
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
        final long[] buffer = this.buffer;
        final long consumerIndex = lpConsumerIndex();
        final int slot = slot(consumerIndex, mask);
        // Pairs with the release store of FULL in offer/fill.
        if (laState(buffer, slot) == FREE) {
            return valueIfEmpty;
        }
        // Plain: ordered after the acquire load of the state word above.
        final long value = lpValue(buffer, slot);
        // Release: the load of the value stays before it; pairs with the acquire loads in
        // offerSlowPath.
        soState(buffer, slot, FREE);
        // For size() only; pairs with the acquire load in size().
        soConsumerIndex(consumerIndex + 1);
        return value;
    }

    /**
     * Returns the oldest value without removing it, or {@code valueIfEmpty} if the ring is empty.
     *
     * <p>Context: consumer thread only.
     */
    public long peek(long valueIfEmpty) {
        final long[] buffer = this.buffer;
        final int slot = slot(lpConsumerIndex(), mask);
        // Pairs with the release store of FULL in offer/fill.
        if (laState(buffer, slot) == FREE) {
            return valueIfEmpty;
        }
        // Plain: ordered after the acquire load of the state word above.
        return lpValue(buffer, slot);
    }

    /**
     * Removes up to {@code limit} values, oldest first, passing each to {@code consumer}, and
     * returns how many were removed.
     *
     * <p>Equivalent to that many {@link #poll}s, stopping at the first that finds the ring empty;
     * each slot is handed back to the producer as it is freed, and {@code consumerIndex} (read only
     * by {@link #size}) is stored once for the batch. Before concluding "empty" the call first
     * stores what it holds and looks at the slot again (a second store only when a value arrived in
     * between), so {@code size()} never counts more than the consumer has seen.
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
                final int slot = slot(index, mask);
                // Pairs with the release store of FULL in offer/fill.
                if (laState(buffer, slot) == FREE) {
                    if (index == released) {
                        break;
                    }
                    // Publish what we took before concluding "empty"; pairs with the acquire load
                    // in size().
                    soConsumerIndex(index);
                    released = index;
                    // Pairs with the release store of FULL in offer/fill.
                    if (laState(buffer, slot) == FREE) {
                        break;
                    }
                }
                // Plain: ordered after the acquire load of the state word above.
                final long value = lpValue(buffer, slot);
                // Release: the load of the value stays before it; pairs with the acquire loads in
                // offerSlowPath.
                soState(buffer, slot, FREE);
                index++;
                consumer.accept(value);
            }
        } finally {
            if (index != released) {
                // For size() only; pairs with the acquire load in size().
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
     * The number of values, in {@code [0, capacity()]}.
     *
     * <p>Exact (linearizable) on the producer thread and whenever neither side is running. On the
     * consumer thread, or any other, it can lag the producer: a value is visible to {@link #poll}
     * as soon as its slot is published, before the {@code producerIndex} store this method reads
     * (once per {@link #fill} batch), so it may count fewer than {@code poll} would find. On the
     * consumer thread {@code peek} with a sentinel outside the values' domain is exact.
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
     * Whether {@link #size()} is zero; the same caveats apply (on the consumer thread prefer
     * {@code peek} with a sentinel, which is exact).
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
