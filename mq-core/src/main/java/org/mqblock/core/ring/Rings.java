package org.mqblock.core.ring;

/** What both rings share: capacity validation and the size clamp. */
final class Rings {
    /** The largest capacity a ring accepts: 2^30 slots. */
    static final int MAX_CAPACITY = 1 << 30;

    private Rings() {}

    /**
     * The power of two at or above {@code requestedCapacity}.
     *
     * @throws IllegalArgumentException if {@code requestedCapacity} is not in {@code [1, 2^30]}
     */
    static int capacityFor(int requestedCapacity) {
        if (requestedCapacity <= 0) {
            throw new IllegalArgumentException("capacity must be positive: " + requestedCapacity);
        }
        if (requestedCapacity > MAX_CAPACITY) {
            throw new IllegalArgumentException(
                    "capacity must be at most 2^30 (" + MAX_CAPACITY + "): " + requestedCapacity);
        }
        return requestedCapacity == 1 ? 1 : Integer.highestOneBit(requestedCapacity - 1) << 1;
    }

    /**
     * {@code producerIndex - consumerIndex} clamped to {@code [0, capacity]}: with element-null
     * checks the consumer may take an element before the producer's index store covers it, so a
     * racing reader can see the consumer one or more elements ahead.
     */
    static int clampSize(long difference, int capacity) {
        if (difference <= 0) {
            return 0;
        }
        return difference >= capacity ? capacity : (int) difference;
    }
}
