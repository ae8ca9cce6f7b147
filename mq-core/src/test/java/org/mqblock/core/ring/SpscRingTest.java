package org.mqblock.core.ring;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Single-threaded behaviour of {@link SpscRing}: capacity edges, FIFO across wraps, batch edges. */
class SpscRingTest {

    @Test
    void capacityRoundsUpToPowerOfTwo() {
        assertEquals(1, new SpscRing<>(1).capacity());
        assertEquals(2, new SpscRing<>(2).capacity());
        assertEquals(4, new SpscRing<>(3).capacity());
        assertEquals(1024, new SpscRing<>(1000).capacity());
        assertEquals(1024, new SpscRing<>(1024).capacity());
        assertEquals(2048, new SpscRing<>(1025).capacity());
        // The upper edge without allocating 4 GiB: the rings share this computation.
        assertEquals(1 << 30, Rings.capacityFor((1 << 29) + 1));
        assertEquals(1 << 30, Rings.capacityFor(1 << 30));
    }

    @ParameterizedTest
    @ValueSource(ints = {0, -1, Integer.MIN_VALUE, (1 << 30) + 1, Integer.MAX_VALUE})
    void capacityOutsideOneToTwoToTheThirtyIsRejectedWithTheValue(int requested) {
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> new SpscRing<>(requested));
        assertTrue(e.getMessage().contains(Integer.toString(requested)), e.getMessage());
    }

    @Test
    void nullElementIsRejectedAndLeavesRingUnchanged() {
        SpscRing<String> ring = new SpscRing<>(4);
        ring.offer("a");
        assertThrows(NullPointerException.class, () -> ring.offer(null));
        assertEquals(1, ring.size());
        assertEquals("a", ring.poll());
        assertNull(ring.poll());
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 4, 16})
    void offerFailsExactlyWhenFull(int capacity) {
        SpscRing<Integer> ring = new SpscRing<>(capacity);
        for (int i = 0; i < capacity; i++) {
            assertTrue(ring.offer(i), "offer " + i);
            assertEquals(i + 1, ring.size());
        }
        assertFalse(ring.offer(-1));
        assertEquals(capacity, ring.size());
        assertEquals(0, ring.poll());
        assertTrue(ring.offer(capacity));
        assertFalse(ring.offer(-1));
        for (int i = 1; i <= capacity; i++) {
            assertEquals(i, ring.poll());
        }
        assertNull(ring.poll());
        assertTrue(ring.isEmpty());
    }

    @Test
    void emptyRingPollsAndPeeksNull() {
        SpscRing<Integer> ring = new SpscRing<>(8);
        assertNull(ring.poll());
        assertNull(ring.peek());
        assertEquals(0, ring.size());
        assertTrue(ring.isEmpty());
    }

    @Test
    void peekReturnsHeadWithoutRemovingIt() {
        SpscRing<String> ring = new SpscRing<>(4);
        ring.offer("a");
        ring.offer("b");
        assertEquals("a", ring.peek());
        assertEquals("a", ring.peek());
        assertEquals(2, ring.size());
        assertEquals("a", ring.poll());
        assertEquals("b", ring.peek());
    }

    @Test
    void fifoAcrossManyWrapsWithEveryFillLevel() {
        SpscRing<Integer> ring = new SpscRing<>(8);
        int next = 0;
        int expected = 0;
        for (int lap = 0; lap < 200; lap++) {
            int burst = 1 + lap % 8;
            for (int i = 0; i < burst; i++) {
                assertTrue(ring.offer(next++));
            }
            assertEquals(burst, ring.size());
            for (int i = 0; i < burst; i++) {
                assertEquals(expected++, ring.poll());
            }
        }
        assertNull(ring.poll());
    }

    @Test
    void removedElementsAreNotRetainedAndPadsStayEmpty() {
        SpscRing<Object> ring = new SpscRing<>(4);
        for (int lap = 0; lap < 3; lap++) {
            ring.offer(new Object());
            ring.offer(new Object());
            ring.poll();
            ring.drain(e -> {}, 1);
        }
        for (Object slot : ring.buffer) {
            assertNull(slot, "a consumed element is still referenced by the ring");
        }
        assertEquals(4 + 2 * SpscRing.PAD_SLOTS, ring.buffer.length);
    }

    // ---- fill ----

    @Test
    void fillOfZeroAddsNothingAndNeverCallsTheSupplier() {
        SpscRing<Integer> ring = new SpscRing<>(4);
        assertEquals(0, ring.fill(failingSupplier(), 0));
        assertTrue(ring.isEmpty());
    }

    @Test
    void fillOnFullRingAddsNothingAndNeverCallsTheSupplier() {
        SpscRing<Integer> ring = new SpscRing<>(2);
        ring.offer(1);
        ring.offer(2);
        assertEquals(0, ring.fill(failingSupplier(), 5));
        assertEquals(2, ring.size());
    }

    @Test
    void fillBeyondFreeSpaceAddsOnlyWhatFitsCallingTheSupplierThatOften() {
        SpscRing<Integer> ring = new SpscRing<>(8);
        ring.offer(-1);
        ring.offer(-2);
        int[] calls = {0};
        assertEquals(6, ring.fill(() -> calls[0]++, 100));
        assertEquals(6, calls[0]);
        assertEquals(8, ring.size());
        assertFalse(ring.offer(99));
        assertArrayEquals(new Object[] {-1, -2, 0, 1, 2, 3, 4, 5}, drainAll(ring).toArray());
    }

    @Test
    void fillOfExactlyCapacityOnEmptyRingFillsIt() {
        SpscRing<Integer> ring = new SpscRing<>(16);
        int[] next = {0};
        assertEquals(16, ring.fill(() -> next[0]++, 16));
        assertEquals(16, ring.size());
        assertFalse(ring.offer(99));
        List<Integer> out = drainAll(ring);
        for (int i = 0; i < 16; i++) {
            assertEquals(i, out.get(i));
        }
    }

    @Test
    void fillSeesSpaceTheConsumerFreedSinceTheLastLimitRead() {
        SpscRing<Integer> ring = new SpscRing<>(4);
        int[] next = {0};
        assertEquals(4, ring.fill(() -> next[0]++, 4));
        assertEquals(0, ring.poll());
        assertEquals(1, ring.poll());
        // producerLimit is stale (4); the fill must look at the slots again and find 2 free.
        assertEquals(2, ring.fill(() -> next[0]++, 3));
        assertArrayEquals(new Object[] {2, 3, 4, 5}, drainAll(ring).toArray());
    }

    @Test
    void fullRingHandsBackEachFreedSlotEvenWhenTheLookAheadFindsNoRun() {
        SpscRing<Integer> ring = new SpscRing<>(8); // looks 2 slots ahead
        int[] next = {0};
        assertEquals(8, ring.fill(() -> next[0]++, 8));
        assertEquals(0, ring.poll());
        // Slot 0 is free but slot 2 is not: the producer takes the one slot and no more.
        assertTrue(ring.offer(next[0]++));
        assertFalse(ring.offer(99));
        assertEquals(1, ring.poll());
        assertEquals(2, ring.poll());
        assertEquals(3, ring.poll());
        assertEquals(3, ring.fill(() -> next[0]++, 5));
        assertFalse(ring.offer(99));
        assertArrayEquals(new Object[] {4, 5, 6, 7, 8, 9, 10, 11}, drainAll(ring).toArray());
    }

    @Test
    void slotFreedByADrainIsReusableBeforeTheDrainEnds() {
        // The producer learns of free slots from the slots themselves, not from consumerIndex,
        // which drain stores once at the end of its batch.
        SpscRing<Integer> ring = new SpscRing<>(4);
        int[] next = {0};
        assertEquals(4, ring.fill(() -> next[0]++, 4));
        List<Integer> taken = new ArrayList<>();
        boolean[] offeredMidDrain = {false};
        assertEquals(2, ring.drain(e -> {
            taken.add(e);
            if (e == 0) {
                offeredMidDrain[0] = ring.offer(100);
            }
        }, 2));
        assertTrue(offeredMidDrain[0]);
        assertEquals(List.of(0, 1), taken);
        assertArrayEquals(new Object[] {2, 3, 100}, drainAll(ring).toArray());
    }

    @Test
    void fillAcrossTheWrapPointKeepsOrder() {
        SpscRing<Integer> ring = new SpscRing<>(8);
        for (int i = 0; i < 6; i++) {
            ring.offer(-1);
            ring.poll();
        }
        int[] next = {0};
        assertEquals(8, ring.fill(() -> next[0]++, 8)); // slots 6,7,0,1,...,5
        assertArrayEquals(new Object[] {0, 1, 2, 3, 4, 5, 6, 7}, drainAll(ring).toArray());
    }

    @Test
    void fillRejectsNegativeCountAndNullSupplier() {
        SpscRing<Integer> ring = new SpscRing<>(4);
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> ring.fill(() -> 1, -1));
        assertTrue(e.getMessage().contains("-1"), e.getMessage());
        assertThrows(NullPointerException.class, () -> ring.fill(null, 1));
    }

    @Test
    void fillKeepsElementsSuppliedBeforeANullAndStaysUsable() {
        SpscRing<Integer> ring = new SpscRing<>(8);
        Integer[] values = {10, 11, null, 13};
        int[] i = {0};
        assertThrows(NullPointerException.class, () -> ring.fill(() -> values[i[0]++], 4));
        assertEquals(3, i[0]);
        assertEquals(2, ring.size());
        assertTrue(ring.offer(12));
        assertArrayEquals(new Object[] {10, 11, 12}, drainAll(ring).toArray());
    }

    @Test
    void fillKeepsElementsSuppliedBeforeTheSupplierThrows() {
        SpscRing<Integer> ring = new SpscRing<>(8);
        int[] i = {0};
        Supplier<Integer> s = () -> {
            if (i[0] == 3) {
                throw new IllegalStateException("boom");
            }
            return i[0]++;
        };
        assertThrows(IllegalStateException.class, () -> ring.fill(s, 5));
        assertEquals(3, ring.size());
        assertTrue(ring.offer(3));
        assertArrayEquals(new Object[] {0, 1, 2, 3}, drainAll(ring).toArray());
    }

    // ---- drain ----

    @Test
    void drainOfZeroRemovesNothing() {
        SpscRing<Integer> ring = new SpscRing<>(4);
        ring.offer(1);
        assertEquals(0, ring.drain(e -> {
            throw new AssertionError("called");
        }, 0));
        assertEquals(1, ring.size());
    }

    @Test
    void drainOfEmptyRingNeverCallsTheConsumer() {
        SpscRing<Integer> ring = new SpscRing<>(4);
        assertEquals(0, ring.drain(e -> {
            throw new AssertionError("called");
        }, 10));
    }

    @Test
    void drainStopsAtLimitAndLeavesTheRestInOrder() {
        SpscRing<Integer> ring = new SpscRing<>(8);
        for (int i = 0; i < 6; i++) {
            ring.offer(i);
        }
        List<Integer> out = new ArrayList<>();
        assertEquals(4, ring.drain(out::add, 4));
        assertEquals(List.of(0, 1, 2, 3), out);
        assertEquals(2, ring.size());
        assertEquals(4, ring.poll());
    }

    @Test
    void drainBeyondSizeTakesEverythingAndFreesEverySlot() {
        SpscRing<Integer> ring = new SpscRing<>(4);
        for (int i = 0; i < 4; i++) {
            ring.offer(i);
        }
        List<Integer> out = new ArrayList<>();
        assertEquals(4, ring.drain(out::add, 1000));
        assertEquals(List.of(0, 1, 2, 3), out);
        for (int i = 0; i < 4; i++) {
            assertTrue(ring.offer(10 + i), "slot " + i + " was not handed back");
        }
        assertFalse(ring.offer(99));
    }

    @Test
    void drainWithoutLimitTakesUpToCapacity() {
        SpscRing<Integer> ring = new SpscRing<>(4);
        ring.offer(1);
        ring.offer(2);
        List<Integer> out = new ArrayList<>();
        assertEquals(2, ring.drain(out::add));
        assertEquals(List.of(1, 2), out);
    }

    @Test
    void drainAcrossTheWrapPointKeepsOrder() {
        SpscRing<Integer> ring = new SpscRing<>(8);
        for (int i = 0; i < 5; i++) {
            ring.offer(-1);
            ring.poll();
        }
        for (int i = 0; i < 8; i++) {
            ring.offer(i);
        }
        List<Integer> out = new ArrayList<>();
        assertEquals(8, ring.drain(out::add, 8));
        assertEquals(List.of(0, 1, 2, 3, 4, 5, 6, 7), out);
    }

    @Test
    void drainRejectsNegativeLimitAndNullConsumer() {
        SpscRing<Integer> ring = new SpscRing<>(4);
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> ring.drain(x -> {}, -1));
        assertTrue(e.getMessage().contains("-1"), e.getMessage());
        assertThrows(NullPointerException.class, () -> ring.drain(null, 1));
    }

    @Test
    void drainCountsTheElementTheConsumerThrewOnAsRemoved() {
        SpscRing<Integer> ring = new SpscRing<>(8);
        for (int i = 0; i < 5; i++) {
            ring.offer(i);
        }
        List<Integer> seen = new ArrayList<>();
        assertThrows(IllegalStateException.class, () -> ring.drain(e -> {
            seen.add(e);
            if (e == 2) {
                throw new IllegalStateException("boom");
            }
        }, 5));
        assertEquals(List.of(0, 1, 2), seen);
        assertEquals(2, ring.size());
        assertEquals(3, ring.poll());
        // The three slots were handed back: the ring takes 7 more.
        for (int i = 0; i < 7; i++) {
            assertTrue(ring.offer(10 + i));
        }
        assertFalse(ring.offer(99));
    }

    @Test
    void toStringNamesCapacityAndSize() {
        SpscRing<Integer> ring = new SpscRing<>(4);
        ring.offer(1);
        assertEquals("SpscRing[capacity=4, size=1]", ring.toString());
    }

    @Test
    void sameInstanceComesOut() {
        SpscRing<Object> ring = new SpscRing<>(2);
        Object o = new Object();
        ring.offer(o);
        assertSame(o, ring.poll());
    }

    private static <T> Supplier<T> failingSupplier() {
        return () -> {
            throw new AssertionError("supplier called");
        };
    }

    private static <T> List<T> drainAll(SpscRing<T> ring) {
        List<T> out = new ArrayList<>();
        ring.drain(out::add);
        return out;
    }
}
