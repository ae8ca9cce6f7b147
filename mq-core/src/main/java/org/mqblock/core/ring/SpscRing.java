package org.mqblock.core.ring;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Objects;
import java.util.function.Consumer;
import java.util.function.Supplier;

/*
 * The layout chain. HotSpot lays out a superclass's fields before its subclass's, so each class
 * below starts where the previous one ends: cold fields, 128 bytes of padding, producer fields,
 * 128 bytes, consumer fields, 128 bytes. SpscRingLayoutTest measures the result on the running JVM.
 */

/**
 * 128 bytes between the previous object in the heap and the cold fields every operation reads.
 * {@code p0i} fills the 4-byte hole after a 12-byte header, which HotSpot (JDK 15+) would otherwise
 * give to a subclass's int field (the ring's mask), placing it in front of the pad.
 */
abstract class SpscRingL0Pad {
    int p0i;
    long p00, p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15;
}

/** Fields written once, in the constructor, and read by both threads: they may share a line. */
abstract class SpscRingColdFields<E> extends SpscRingL0Pad {
    /** Unused slots at each end of {@link #buffer}: 128 bytes with 4-byte references, 256 with 8. */
    static final int PAD_SLOTS = 32;

    /** Written by the constructor only; read plain by both threads (final-field semantics). */
    final Object[] buffer;
    /** {@code capacity - 1}; written by the constructor only. */
    final int mask;

    SpscRingColdFields(int requestedCapacity) {
        final int capacity = Rings.capacityFor(requestedCapacity);
        this.mask = capacity - 1;
        this.buffer = new Object[capacity + 2 * PAD_SLOTS];
    }
}

abstract class SpscRingL1Pad<E> extends SpscRingColdFields<E> {
    long p00, p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15;

    SpscRingL1Pad(int requestedCapacity) {
        super(requestedCapacity);
    }
}

/** The producer's line: written only by the producer thread. */
abstract class SpscRingProducerFields<E> extends SpscRingL1Pad<E> {
    static final VarHandle PRODUCER_INDEX;

    static {
        try {
            PRODUCER_INDEX = MethodHandles.lookup()
                    .findVarHandle(SpscRingProducerFields.class, "producerIndex", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /**
     * Index of the next slot to fill. Written by the producer only, with a release store after the
     * slots it covers; read plain by the producer, with an acquire load by {@code size()} in any
     * thread. The consumer never reads it: it finds elements by their non-null slots.
     */
    long producerIndex;

    /**
     * Every slot below this index is known to be free: the producer fills up to it without loading
     * a slot or anything the consumer writes. Producer only, plain.
     */
    long producerLimit;

    SpscRingProducerFields(int requestedCapacity) {
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

abstract class SpscRingL2Pad<E> extends SpscRingProducerFields<E> {
    long p00, p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15;

    SpscRingL2Pad(int requestedCapacity) {
        super(requestedCapacity);
    }
}

/** The consumer's line: written only by the consumer thread. */
abstract class SpscRingConsumerFields<E> extends SpscRingL2Pad<E> {
    static final VarHandle CONSUMER_INDEX;

    static {
        try {
            CONSUMER_INDEX = MethodHandles.lookup()
                    .findVarHandle(SpscRingConsumerFields.class, "consumerIndex", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /**
     * Index of the next slot to take. Written by the consumer only, with a release store after it
     * has cleared the slots it covers; read plain by the consumer, with an acquire load by
     * {@code size()} in any thread. The producer never reads it: it finds free slots by their
     * null slots.
     */
    long consumerIndex;

    SpscRingConsumerFields(int requestedCapacity) {
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

abstract class SpscRingL3Pad<E> extends SpscRingConsumerFields<E> {
    long p00, p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15;

    SpscRingL3Pad(int requestedCapacity) {
        super(requestedCapacity);
    }
}

/**
 * A bounded, lock-free, wait-free FIFO ring of references for exactly one producer thread and one
 * consumer thread. Not threadsafe beyond one producer and one consumer.
 *
 * <p>The capacity is the requested capacity rounded up to a power of two. Null elements are
 * rejected: a null slot is how the ring marks a free one.
 *
 * <h2>Contract</h2>
 * {@link #offer}, {@link #fill} are called by the producer thread only; {@link #poll},
 * {@link #peek}, {@link #drain} by the consumer thread only; {@link #size}, {@link #isEmpty},
 * {@link #capacity} by any thread. Elements come out in the order they went in, each exactly once.
 * An element is visible to the consumer with everything the producer wrote before offering it
 * (offer happens-before the poll that returns the element).
 *
 * <h2>Algorithm</h2>
 * The two sides use different ways to learn about each other, each chosen so that neither thread
 * reads a line the other is writing on the common path:
 * <ul>
 *   <li><b>Consumer: element-null checks</b> (FastFlow, as in JCTools). The producer stores each
 *       element with a release store; the consumer's acquire load of the slot pairs with it, so a
 *       non-null slot is a published element. The consumer therefore never reads
 *       {@code producerIndex}: when it has caught up, the only line it polls is the slot line the
 *       producer writes next, which has to travel to the consumer anyway. (Reading a producer
 *       index as well, Lamport style, would move a second line per element whenever the ring runs
 *       near empty, which is where a fast consumer lives.)
 *   <li><b>Producer: slot look-ahead</b> (as in JCTools). The consumer clears each slot with a
 *       release store after reading it. When the producer's {@code producerLimit} runs out it loads
 *       (acquire) the slot a quarter of the ring ahead (at most {@value #MAX_LOOK_AHEAD}); if that
 *       one is free, every slot before it is too (the consumer clears in order), and the limit
 *       moves there. Otherwise it checks the next slot alone, so a ring that runs full is answered
 *       from the slot line the consumer is working on anyway. The producer never reads
 *       {@code consumerIndex}. (An earlier version refreshed the limit from {@code consumerIndex};
 *       when the ring ran full, as it does whenever the producer is the faster side, the producer
 *       re-read that line every few offers and took it away from the consumer, which writes it on
 *       every poll: burst-1 throughput was about a third of JCTools' on a 2-core EPYC.)
 * </ul>
 * {@code producerIndex} and {@code consumerIndex} are kept only so that {@link #size} can be
 * answered from any thread; each costs one store to a line only its owner writes (per batch in
 * {@link #fill} and {@link #drain}).
 *
 * <p>Operations never block, spin or allocate; every call finishes in a bounded number of steps.
 */
@SuppressWarnings("unchecked")
public final class SpscRing<E> extends SpscRingL3Pad<E> {
    private static final VarHandle SLOT = MethodHandles.arrayElementVarHandle(Object[].class);

    /** The producer looks at most this many slots ahead (JCTools' bound): a few lines' worth of limit is plenty. */
    static final int MAX_LOOK_AHEAD = 4096;

    /**
     * Creates an empty ring.
     *
     * <p>Context: any thread; the ring must then reach its producer and consumer threads through a
     * happens-before edge (a {@code final} field, {@code Thread.start}, a queue hand-off).
     *
     * @param requestedCapacity at least this many elements fit; rounded up to a power of two
     * @throws IllegalArgumentException if {@code requestedCapacity} is not in {@code [1, 2^30]}
     */
    public SpscRing(int requestedCapacity) {
        super(requestedCapacity);
    }

    /** Array index of the slot for ring index {@code index}: past the front pad, wrapped. */
    private static int slot(long index, int mask) {
        return PAD_SLOTS + ((int) index & mask);
    }

    private static Object laSlot(Object[] buffer, int slot) {
        return SLOT.getAcquire(buffer, slot);
    }

    private static void soSlot(Object[] buffer, int slot, Object e) {
        SLOT.setRelease(buffer, slot, e);
    }

    /**
     * Frees a slot: a release store of null. Written as {@code releaseFence} and a plain store
     * because a VarHandle store of a reference first compares the array's class with
     * {@code Object[]} (the check that keeps a {@code String[]} from receiving an {@code Integer}),
     * which a null never needs; the fence gives the ordering {@code setRelease} would, keeping the
     * caller's load of the element before the store.
     */
    private static void soSlotNull(Object[] buffer, int slot) {
        VarHandle.releaseFence();
        buffer[slot] = null;
    }

    /**
     * Adds {@code e} if there is room.
     *
     * <p>Context: producer thread only.
     *
     * @return {@code true} if added, {@code false} if the ring was full
     * @throws NullPointerException if {@code e} is null
     */
    public boolean offer(E e) {
        if (e == null) {
            throw new NullPointerException("SpscRing does not accept null elements");
        }
        final Object[] buffer = this.buffer;
        final int mask = this.mask;
        final long producerIndex = lpProducerIndex();
        if (producerIndex >= producerLimit && !offerSlowPath(buffer, mask, producerIndex)) {
            return false;
        }
        // Publishes e and everything written before it; pairs with the acquire load in poll/drain/peek.
        soSlot(buffer, slot(producerIndex, mask), e);
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
    private boolean offerSlowPath(Object[] buffer, int mask, long producerIndex) {
        final int lookAhead = Math.min((mask + 1) >>> 2, MAX_LOOK_AHEAD);
        // Both loads pair with the release store that cleared the slot in poll/drain: the
        // consumer read that slot, and every slot before it, before clearing it.
        if (lookAhead > 0 && laSlot(buffer, slot(producerIndex + lookAhead, mask)) == null) {
            producerLimit = producerIndex + lookAhead;
            return true;
        }
        return laSlot(buffer, slot(producerIndex, mask)) == null;
    }

    /**
     * Adds up to {@code n} elements taken from {@code supplier}, in order, and returns how many:
     * {@code n}, or fewer if the ring filled up. The supplier is called exactly that many times.
     *
     * <p>Equivalent to that many {@link #offer}s, stopping at the first that finds the ring full:
     * each element is visible to the consumer as soon as it is stored, so a batch is not atomic.
     * Slots are looked at only when the known-free limit runs out, and {@code producerIndex} is
     * stored once per batch (and before each such look, so that "full" is only ever concluded
     * with nothing held back).
     *
     * <p>If the supplier throws or returns null, the elements it supplied before are kept and the
     * exception propagates ({@link NullPointerException} for a null).
     *
     * <p>Context: producer thread only.
     *
     * @throws IllegalArgumentException if {@code n < 0}
     */
    public int fill(Supplier<? extends E> supplier, int n) {
        Objects.requireNonNull(supplier, "supplier");
        if (n < 0) {
            throw new IllegalArgumentException("n must be >= 0: " + n);
        }
        final Object[] buffer = this.buffer;
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
                    final E e = supplier.get();
                    if (e == null) {
                        throw new NullPointerException(
                                "supplier returned null for element " + (index - start) + " of " + n);
                    }
                    // Publishes e; pairs with the acquire load in poll/drain/peek.
                    soSlot(buffer, slot(index, mask), e);
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
     * Removes and returns the oldest element, or {@code null} if the ring is empty.
     *
     * <p>Context: consumer thread only.
     */
    public E poll() {
        final Object[] buffer = this.buffer;
        final long consumerIndex = lpConsumerIndex();
        final int slot = slot(consumerIndex, mask);
        // Pairs with the release store of the slot in offer/fill.
        final Object e = laSlot(buffer, slot);
        if (e == null) {
            return null;
        }
        // Release: the load of e stays before it; pairs with the acquire loads in offerSlowPath.
        soSlotNull(buffer, slot);
        // For size() only; pairs with the acquire load in size().
        soConsumerIndex(consumerIndex + 1);
        return (E) e;
    }

    /**
     * Returns the oldest element without removing it, or {@code null} if the ring is empty.
     *
     * <p>Context: consumer thread only.
     */
    public E peek() {
        // Pairs with the release store of the slot in offer/fill.
        return (E) laSlot(buffer, slot(lpConsumerIndex(), mask));
    }

    /**
     * Removes up to {@code limit} elements, oldest first, passing each to {@code consumer}, and
     * returns how many were removed.
     *
     * <p>Equivalent to that many {@link #poll}s, stopping at the first that finds the ring empty;
     * each slot is handed back to the producer as it is cleared, and {@code consumerIndex} (read
     * only by {@link #size}) is stored once for the batch. Before concluding "empty" the call
     * first stores what it holds and looks at the slot again (a second store only when an element
     * arrived in between), so {@code size()} never counts more than the consumer has seen.
     *
     * <p>If the consumer throws, the element it was given and those before it count as removed and
     * the exception propagates.
     *
     * <p>Context: consumer thread only.
     *
     * @throws IllegalArgumentException if {@code limit < 0}
     */
    public int drain(Consumer<? super E> consumer, int limit) {
        Objects.requireNonNull(consumer, "consumer");
        if (limit < 0) {
            throw new IllegalArgumentException("limit must be >= 0: " + limit);
        }
        final Object[] buffer = this.buffer;
        final int mask = this.mask;
        final long start = lpConsumerIndex();
        final long end = start + limit;
        long index = start;
        long released = start;
        try {
            while (index < end) {
                final int slot = slot(index, mask);
                // Pairs with the release store of the slot in offer/fill.
                Object e = laSlot(buffer, slot);
                if (e == null) {
                    if (index == released) {
                        break;
                    }
                    // Publish what we took before concluding "empty"; pairs with the acquire load
                    // in size().
                    soConsumerIndex(index);
                    released = index;
                    // Pairs with the release store of the slot in offer/fill.
                    e = laSlot(buffer, slot);
                    if (e == null) {
                        break;
                    }
                }
                // Release: the load of e stays before it; pairs with the acquire loads in offerSlowPath.
                soSlotNull(buffer, slot);
                index++;
                consumer.accept((E) e);
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
     * {@link #drain(Consumer, int)} with {@code limit = capacity()}.
     *
     * <p>Context: consumer thread only.
     */
    public int drain(Consumer<? super E> consumer) {
        return drain(consumer, capacity());
    }

    /**
     * The number of elements, in {@code [0, capacity()]}.
     *
     * <p>Exact (linearizable) on the producer thread and whenever neither side is running. On the
     * consumer thread, or any other, it can lag the producer: an element is visible to
     * {@link #poll} as soon as its slot is stored, before the {@code producerIndex} store this
     * method reads (once per {@link #fill} batch), so it may count fewer than {@code poll} would
     * find. The consumer's exact emptiness test is {@code peek() == null}.
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
     * {@code peek() == null}, which is exact).
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
        return "SpscRing[capacity=" + capacity() + ", size=" + size() + "]";
    }
}
