package org.mqblock.core.ring;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import org.jetbrains.lincheck.datastructures.IntGen;
import org.jetbrains.lincheck.datastructures.LongGen;
import org.jetbrains.lincheck.datastructures.Operation;
import org.jetbrains.lincheck.datastructures.Param;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Linearizability of {@link SpscLongRing} against a bounded {@link ArrayDeque}, producer
 * operations in one thread and consumer operations in the other. Values include 0 and negatives:
 * every {@code long} is a valid element. {@code size()} may run on either thread (the indices are
 * the publication, so it is exact from both sides). Batches run with {@code n} of 0 or 1 only, for
 * the reason given in {@link SpscRingLincheckTest}.
 */
@Param(name = "value", gen = LongGen.class, conf = "-2:6")
@Param(name = "n", gen = IntGen.class, conf = "0:1")
public class SpscLongRingLincheckTest {
    static final int CAPACITY = 2;
    /** Returned by poll/peek when empty; outside the generated values. */
    static final long EMPTY = Long.MIN_VALUE;

    private final SpscLongRing ring = new SpscLongRing(CAPACITY);

    @Operation(nonParallelGroup = "producer")
    public boolean offer(@Param(name = "value") long value) {
        return ring.offer(value);
    }

    /** Fills {@code n} values {@code value*10, value*10+1, ...}. */
    @Operation(nonParallelGroup = "producer")
    public int fill(@Param(name = "value") long value, @Param(name = "n") int n) {
        long[] next = {value * 10};
        return ring.fill(() -> next[0]++, n);
    }

    @Operation(nonParallelGroup = "consumer")
    public long poll() {
        return ring.poll(EMPTY);
    }

    @Operation(nonParallelGroup = "consumer")
    public long peek() {
        return ring.peek(EMPTY);
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

    @Operation
    public int size() {
        return ring.size();
    }

    @Test
    @Timeout(600)
    void linearizableUnderModelChecking() {
        LincheckSettings.modelChecking().sequentialSpecification(Spec.class).check(getClass());
    }

    @Test
    @Timeout(600)
    void linearizableUnderStress() {
        LincheckSettings.stress().sequentialSpecification(Spec.class).check(getClass());
    }

    /** The sequential specification: a FIFO deque bounded to the ring's capacity. */
    public static final class Spec {
        private final ArrayDeque<Long> q = new ArrayDeque<>();

        public boolean offer(long value) {
            if (q.size() == CAPACITY) {
                return false;
            }
            q.addLast(value);
            return true;
        }

        public int fill(long value, int n) {
            int added = 0;
            while (added < n && q.size() < CAPACITY) {
                q.addLast(value * 10 + added++);
            }
            return added;
        }

        public long poll() {
            Long v = q.pollFirst();
            return v == null ? EMPTY : v;
        }

        public long peek() {
            Long v = q.peekFirst();
            return v == null ? EMPTY : v;
        }

        public List<Long> drain(int limit) {
            List<Long> out = new ArrayList<>();
            while (out.size() < limit && !q.isEmpty()) {
                out.add(q.pollFirst());
            }
            return out;
        }

        public int size() {
            return q.size();
        }
    }
}
