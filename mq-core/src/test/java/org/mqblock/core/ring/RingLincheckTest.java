package org.mqblock.core.ring;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.jetbrains.lincheck.datastructures.IntGen;
import org.jetbrains.lincheck.datastructures.Operation;
import org.jetbrains.lincheck.datastructures.Param;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Linearizability of both rings against a bounded FIFO ({@link ArrayDeque}), under Lincheck's model
 * checker (which also checks obstruction freedom: no operation waits for the other thread) and its
 * stress runner. Every producer operation runs in one thread and every consumer operation in the
 * other ({@code nonParallelGroup}), which is the rings' contract.
 *
 * <p>The rings have capacity 8, so the producer looks {@code 8 / 4 = 2} slots ahead, and each
 * scenario starts from a state the constructor prepares with one lap behind it and the producer's
 * known-free limit used up, so that the very first offer runs the look-ahead:
 * <ul>
 *   <li>{@link Start#NEAR_FULL}: six elements queued. The look-ahead slot holds an element the
 *       consumer may be taking at that moment (a hit or a miss depending on the interleaving), and
 *       two offers fill the ring.
 *   <li>{@link Start#NEAR_EMPTY}: one element queued. The look-ahead hits, and one poll empties
 *       the ring.
 * </ul>
 *
 * <p>Batches run with {@code n} of 0 or 1 only. A batch is specified as the sequence of single
 * operations it stands for, not as one atomic step: no CAS-free SPSC ring can make a batch that
 * stops short ("full" / "empty") atomic while the other side moves, and Lincheck checks atomic
 * operations. Batches above one, across the wrap and beyond the capacity, are model-checked by
 * {@link RingBatchModelCheckTest} against that sequence specification.
 *
 * <p>{@code size()} runs on the producer thread, where it is exact. From other threads it can lag
 * (see {@link SpscRing#size()}); {@link RingBatchModelCheckTest} checks what it promises there.
 */
public class RingLincheckTest {
    static final int CAPACITY = 8;

    /** Where each scenario starts; elements carry {@code 100 + index}, apart from the generated values. */
    enum Start {
        NEAR_FULL(7, 1),
        NEAR_EMPTY(6, 5);

        /** After one full lap (offer 8, poll 8): offers, then polls. */
        final int offers;
        final int polls;

        Start(int offers, int polls) {
            this.offers = offers;
            this.polls = polls;
        }

        void prepare(TestRing ring) {
            long index = 0;
            for (int i = 0; i < CAPACITY; i++) {
                check(ring.offer(100 + index++));
            }
            for (int i = 0; i < CAPACITY; i++) {
                check(ring.poll() != TestRing.EMPTY);
            }
            for (int i = 0; i < offers; i++) {
                check(ring.offer(100 + index++));
            }
            for (int i = 0; i < polls; i++) {
                check(ring.poll() != TestRing.EMPTY);
            }
        }

        /** The queue {@link #prepare} leaves, oldest first. */
        ArrayDeque<Long> contents() {
            ArrayDeque<Long> q = new ArrayDeque<>();
            for (int i = polls; i < offers; i++) {
                q.addLast(100L + CAPACITY + i);
            }
            return q;
        }

        private static void check(boolean ok) {
            if (!ok) {
                throw new AssertionError("the ring refused a step of its own preparation");
            }
        }
    }

    /** The operations Lincheck runs; one subclass per ring and starting state. */
    @Param(name = "value", gen = IntGen.class, conf = "1:9")
    @Param(name = "n", gen = IntGen.class, conf = "0:1")
    public abstract static class Ops {
        private final TestRing ring;

        Ops(TestRing.Kind kind, Start start) {
            this.ring = kind.create(CAPACITY);
            start.prepare(ring);
        }

        @Operation(nonParallelGroup = "producer")
        public boolean offer(@Param(name = "value") int value) {
            return ring.offer(value);
        }

        /** Fills {@code n} elements {@code value*10, value*10+1, ...}. */
        @Operation(nonParallelGroup = "producer")
        public int fill(@Param(name = "value") int value, @Param(name = "n") int n) {
            long[] next = {value * 10L};
            return ring.fill(() -> next[0]++, n);
        }

        /** From the producer thread size() is exact; see {@link SpscRing#size()} for the others. */
        @Operation(nonParallelGroup = "producer")
        public int size() {
            return ring.size();
        }

        @Operation(nonParallelGroup = "consumer")
        public long poll() {
            return ring.poll();
        }

        @Operation(nonParallelGroup = "consumer")
        public long peek() {
            return ring.peek();
        }

        @Operation(nonParallelGroup = "consumer")
        public List<Long> drain(@Param(name = "n") int limit) {
            List<Long> out = new ArrayList<>();
            int n = ring.drain(out::add, limit);
            if (n != out.size()) {
                throw new AssertionError("drain returned " + n + " but passed " + out.size());
            }
            return out;
        }
    }

    public static final class RefNearFull extends Ops {
        public RefNearFull() {
            super(TestRing.Kind.SPSC_RING, Start.NEAR_FULL);
        }
    }

    public static final class RefNearEmpty extends Ops {
        public RefNearEmpty() {
            super(TestRing.Kind.SPSC_RING, Start.NEAR_EMPTY);
        }
    }

    public static final class LongNearFull extends Ops {
        public LongNearFull() {
            super(TestRing.Kind.SPSC_LONG_RING, Start.NEAR_FULL);
        }
    }

    public static final class LongNearEmpty extends Ops {
        public LongNearEmpty() {
            super(TestRing.Kind.SPSC_LONG_RING, Start.NEAR_EMPTY);
        }
    }

    /** The sequential specification: a FIFO deque bounded to the capacity, from a starting state. */
    public abstract static class Spec {
        private final ArrayDeque<Long> q;

        Spec(Start start) {
            q = start.contents();
        }

        public boolean offer(int value) {
            if (q.size() == CAPACITY) {
                return false;
            }
            q.addLast((long) value);
            return true;
        }

        public int fill(int value, int n) {
            int added = 0;
            while (added < n && q.size() < CAPACITY) {
                q.addLast(value * 10L + added++);
            }
            return added;
        }

        public int size() {
            return q.size();
        }

        public long poll() {
            Long v = q.pollFirst();
            return v == null ? TestRing.EMPTY : v;
        }

        public long peek() {
            Long v = q.peekFirst();
            return v == null ? TestRing.EMPTY : v;
        }

        public List<Long> drain(int limit) {
            List<Long> out = new ArrayList<>();
            while (out.size() < limit && !q.isEmpty()) {
                out.add(q.pollFirst());
            }
            return out;
        }
    }

    public static final class SpecNearFull extends Spec {
        public SpecNearFull() {
            super(Start.NEAR_FULL);
        }
    }

    public static final class SpecNearEmpty extends Spec {
        public SpecNearEmpty() {
            super(Start.NEAR_EMPTY);
        }
    }

    static Stream<Arguments> rings() {
        return Stream.of(
                Arguments.of(RefNearFull.class, SpecNearFull.class),
                Arguments.of(RefNearEmpty.class, SpecNearEmpty.class),
                Arguments.of(LongNearFull.class, SpecNearFull.class),
                Arguments.of(LongNearEmpty.class, SpecNearEmpty.class));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rings")
    @Timeout(600)
    void linearizableUnderModelChecking(Class<? extends Ops> ops, Class<? extends Spec> spec) {
        LincheckSettings.modelChecking().sequentialSpecification(spec).check(ops);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rings")
    @Timeout(600)
    void linearizableUnderStress(Class<? extends Ops> ops, Class<? extends Spec> spec) {
        LincheckSettings.stress().sequentialSpecification(spec).check(ops);
    }
}
