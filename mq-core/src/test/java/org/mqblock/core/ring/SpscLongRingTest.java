package org.mqblock.core.ring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Single-threaded behaviour of {@link SpscLongRing}: every long is a value, edges, batches. */
class SpscLongRingTest {
    private static final long EMPTY = Long.MIN_VALUE;

    @Test
    void capacityRoundsUpToPowerOfTwo() {
        assertEquals(1, new SpscLongRing(1).capacity());
        assertEquals(4, new SpscLongRing(3).capacity());
        assertEquals(1024, new SpscLongRing(1000).capacity());
        assertEquals(2048, new SpscLongRing(1025).capacity());
    }

    @ParameterizedTest
    @ValueSource(ints = {0, -1, Integer.MIN_VALUE, (1 << 30) + 1, Integer.MAX_VALUE})
    void capacityOutsideOneToTwoToTheThirtyIsRejectedWithTheValue(int requested) {
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> new SpscLongRing(requested));
        assertTrue(e.getMessage().contains(Integer.toString(requested)), e.getMessage());
    }

    @Test
    void zeroNegativeAndExtremeValuesAreOrdinaryElements() {
        SpscLongRing ring = new SpscLongRing(8);
        long[] values = {0, -1, Long.MAX_VALUE, Long.MIN_VALUE + 1, 42};
        for (long v : values) {
            assertTrue(ring.offer(v));
        }
        for (long v : values) {
            assertEquals(v, ring.peek(EMPTY));
            assertEquals(v, ring.poll(EMPTY));
        }
        assertEquals(EMPTY, ring.poll(EMPTY));
    }

    @Test
    void emptyRingReturnsTheCallersSentinel() {
        SpscLongRing ring = new SpscLongRing(2);
        assertEquals(-7, ring.poll(-7));
        assertEquals(-8, ring.peek(-8));
        assertTrue(ring.isEmpty());
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 4, 16})
    void offerFailsExactlyWhenFull(int capacity) {
        SpscLongRing ring = new SpscLongRing(capacity);
        for (int i = 0; i < capacity; i++) {
            assertTrue(ring.offer(i));
            assertEquals(i + 1, ring.size());
        }
        assertFalse(ring.offer(-1));
        assertEquals(0, ring.poll(EMPTY));
        assertTrue(ring.offer(capacity));
        assertFalse(ring.offer(-1));
        for (int i = 1; i <= capacity; i++) {
            assertEquals(i, ring.poll(EMPTY));
        }
        assertEquals(EMPTY, ring.poll(EMPTY));
    }

    @Test
    void fifoAcrossManyWrapsWithEveryFillLevel() {
        SpscLongRing ring = new SpscLongRing(8);
        long next = -500;
        long expected = -500;
        for (int lap = 0; lap < 200; lap++) {
            int burst = 1 + lap % 8;
            for (int i = 0; i < burst; i++) {
                assertTrue(ring.offer(next++));
            }
            assertEquals(burst, ring.size());
            for (int i = 0; i < burst; i++) {
                assertEquals(expected++, ring.poll(EMPTY));
            }
        }
        assertEquals(EMPTY, ring.poll(EMPTY));
    }

    @Test
    void padsAreNeverWritten() {
        SpscLongRing ring = new SpscLongRing(4);
        for (int i = 0; i < 40; i++) {
            ring.offer(-1L);
            ring.poll(EMPTY);
        }
        long[] buffer = ring.buffer;
        assertEquals(SpscLongRing.SLOT_LONGS * 4 + 2 * SpscLongRing.PAD_LONGS, buffer.length);
        for (int i = 0; i < SpscLongRing.PAD_LONGS; i++) {
            assertEquals(0, buffer[i]);
            assertEquals(0, buffer[buffer.length - 1 - i]);
        }
    }

    @Test
    void aValueEqualToTheStateWordsIsAnOrdinaryValue() {
        // The state word lives beside the value: neither 0 nor 1 may read as "free" or "full".
        SpscLongRing ring = new SpscLongRing(2);
        assertTrue(ring.offer(0));
        assertTrue(ring.offer(1));
        assertFalse(ring.offer(2));
        assertEquals(0, ring.poll(EMPTY));
        assertEquals(1, ring.peek(EMPTY));
        assertEquals(1, ring.poll(EMPTY));
        assertEquals(EMPTY, ring.poll(EMPTY));
    }

    // ---- fill ----

    @Test
    void fillOfZeroOrOnFullRingNeverCallsTheSupplier() {
        SpscLongRing ring = new SpscLongRing(2);
        assertEquals(0, ring.fill(failingSupplier(), 0));
        ring.offer(1);
        ring.offer(2);
        assertEquals(0, ring.fill(failingSupplier(), 3));
        assertEquals(2, ring.size());
    }

    @Test
    void fillBeyondFreeSpaceAddsOnlyWhatFits() {
        SpscLongRing ring = new SpscLongRing(8);
        ring.offer(-1);
        long[] calls = {0};
        assertEquals(7, ring.fill(() -> calls[0]++, 100));
        assertEquals(7, calls[0]);
        assertFalse(ring.offer(99));
        assertEquals(List.of(-1L, 0L, 1L, 2L, 3L, 4L, 5L, 6L), drainAll(ring));
    }

    @Test
    void fillSeesSpaceTheConsumerFreedSinceTheLastLimitRead() {
        SpscLongRing ring = new SpscLongRing(4);
        long[] next = {0};
        assertEquals(4, ring.fill(() -> next[0]++, 4));
        ring.poll(EMPTY);
        ring.poll(EMPTY);
        assertEquals(2, ring.fill(() -> next[0]++, 3));
        assertEquals(List.of(2L, 3L, 4L, 5L), drainAll(ring));
    }

    @Test
    void fullRingHandsBackEachFreedSlotEvenWhenTheLookAheadFindsNoRun() {
        SpscLongRing ring = new SpscLongRing(8); // looks 2 slots ahead
        long[] next = {0};
        assertEquals(8, ring.fill(() -> next[0]++, 8));
        assertEquals(0, ring.poll(EMPTY));
        // Slot 0 is free but slot 2 is not: the producer takes the one slot and no more.
        assertTrue(ring.offer(next[0]++));
        assertFalse(ring.offer(99));
        assertEquals(1, ring.poll(EMPTY));
        assertEquals(2, ring.poll(EMPTY));
        assertEquals(3, ring.poll(EMPTY));
        assertEquals(3, ring.fill(() -> next[0]++, 5));
        assertFalse(ring.offer(99));
        assertEquals(List.of(4L, 5L, 6L, 7L, 8L, 9L, 10L, 11L), drainAll(ring));
    }

    @Test
    void slotFreedByADrainIsReusableBeforeTheDrainEnds() {
        // The producer learns of free slots from their state words, not from consumerIndex, which
        // drain stores once at the end of its batch.
        SpscLongRing ring = new SpscLongRing(4);
        long[] next = {0};
        assertEquals(4, ring.fill(() -> next[0]++, 4));
        List<Long> taken = new ArrayList<>();
        boolean[] offeredMidDrain = {false};
        assertEquals(2, ring.drain(v -> {
            taken.add(v);
            if (v == 0) {
                offeredMidDrain[0] = ring.offer(100);
            }
        }, 2));
        assertTrue(offeredMidDrain[0]);
        assertEquals(List.of(0L, 1L), taken);
        assertEquals(List.of(2L, 3L, 100L), drainAll(ring));
    }

    @Test
    void fillAcrossTheWrapPointKeepsOrder() {
        SpscLongRing ring = new SpscLongRing(8);
        for (int i = 0; i < 6; i++) {
            ring.offer(-1);
            ring.poll(EMPTY);
        }
        long[] next = {0};
        assertEquals(8, ring.fill(() -> next[0]++, 8));
        assertEquals(List.of(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L), drainAll(ring));
    }

    @Test
    void fillRejectsNegativeCountAndNullSupplier() {
        SpscLongRing ring = new SpscLongRing(4);
        assertThrows(IllegalArgumentException.class, () -> ring.fill(() -> 1, -1));
        assertThrows(NullPointerException.class, () -> ring.fill(null, 1));
    }

    @Test
    void fillPublishesValuesSuppliedBeforeTheSupplierThrows() {
        SpscLongRing ring = new SpscLongRing(8);
        long[] i = {0};
        LongSupplier s = () -> {
            if (i[0] == 3) {
                throw new IllegalStateException("boom");
            }
            return i[0]++;
        };
        assertThrows(IllegalStateException.class, () -> ring.fill(s, 5));
        assertEquals(3, ring.size());
        assertTrue(ring.offer(3));
        assertEquals(List.of(0L, 1L, 2L, 3L), drainAll(ring));
    }

    // ---- drain ----

    @Test
    void drainOfZeroOrOfEmptyRingNeverCallsTheConsumer() {
        SpscLongRing ring = new SpscLongRing(4);
        assertEquals(0, ring.drain(v -> {
            throw new AssertionError("called");
        }, 4));
        ring.offer(1);
        assertEquals(0, ring.drain(v -> {
            throw new AssertionError("called");
        }, 0));
        assertEquals(1, ring.size());
    }

    @Test
    void drainStopsAtLimitAndLeavesTheRestInOrder() {
        SpscLongRing ring = new SpscLongRing(8);
        for (int i = 0; i < 6; i++) {
            ring.offer(i);
        }
        List<Long> out = new ArrayList<>();
        assertEquals(4, ring.drain(out::add, 4));
        assertEquals(List.of(0L, 1L, 2L, 3L), out);
        assertEquals(4, ring.poll(EMPTY));
        assertEquals(1, ring.size());
    }

    @Test
    void drainSeesValuesPublishedAfterThePollThatEmptiedTheRing() {
        SpscLongRing ring = new SpscLongRing(8);
        ring.offer(0);
        assertEquals(0, ring.poll(EMPTY));
        ring.offer(1);
        ring.offer(2);
        List<Long> out = new ArrayList<>();
        assertEquals(2, ring.drain(out::add, 5));
        assertEquals(List.of(1L, 2L), out);
    }

    @Test
    void drainBeyondSizeFreesEverySlot() {
        SpscLongRing ring = new SpscLongRing(4);
        for (int i = 0; i < 4; i++) {
            ring.offer(i);
        }
        assertEquals(4, ring.drain(v -> {}, 1000));
        for (int i = 0; i < 4; i++) {
            assertTrue(ring.offer(i));
        }
        assertFalse(ring.offer(99));
    }

    @Test
    void drainAcrossTheWrapPointKeepsOrder() {
        SpscLongRing ring = new SpscLongRing(8);
        for (int i = 0; i < 5; i++) {
            ring.offer(-1);
            ring.poll(EMPTY);
        }
        for (int i = 0; i < 8; i++) {
            ring.offer(i);
        }
        assertEquals(List.of(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L), drainAll(ring));
    }

    @Test
    void drainRejectsNegativeLimitAndNullConsumer() {
        SpscLongRing ring = new SpscLongRing(4);
        assertThrows(IllegalArgumentException.class, () -> ring.drain(v -> {}, -1));
        assertThrows(NullPointerException.class, () -> ring.drain(null, 1));
    }

    @Test
    void drainCountsTheValueTheConsumerThrewOnAsRemoved() {
        SpscLongRing ring = new SpscLongRing(8);
        for (int i = 0; i < 5; i++) {
            ring.offer(i);
        }
        List<Long> seen = new ArrayList<>();
        assertThrows(IllegalStateException.class, () -> ring.drain(v -> {
            seen.add(v);
            if (v == 2) {
                throw new IllegalStateException("boom");
            }
        }, 5));
        assertEquals(List.of(0L, 1L, 2L), seen);
        assertEquals(2, ring.size());
        assertEquals(3, ring.poll(EMPTY));
        for (int i = 0; i < 7; i++) {
            assertTrue(ring.offer(10 + i));
        }
        assertFalse(ring.offer(99));
    }

    @Test
    void toStringNamesCapacityAndSize() {
        SpscLongRing ring = new SpscLongRing(4);
        ring.offer(0);
        assertEquals("SpscLongRing[capacity=4, size=1]", ring.toString());
    }

    private static LongSupplier failingSupplier() {
        return () -> {
            throw new AssertionError("supplier called");
        };
    }

    private static List<Long> drainAll(SpscLongRing ring) {
        List<Long> out = new ArrayList<>();
        ring.drain(out::add);
        return out;
    }
}
