package org.mqblock.core.ring;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import org.jetbrains.lincheck.datastructures.IntGen;
import org.jetbrains.lincheck.datastructures.Operation;
import org.jetbrains.lincheck.datastructures.Param;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Linearizability of {@link SpscRing} against a bounded {@link ArrayDeque}, with every producer
 * operation in one thread and every consumer operation in the other ({@code nonParallelGroup}),
 * which is the ring's contract. Capacity 2 makes "full", "empty" and wraparound reachable within a
 * few operations; the model checker also checks obstruction freedom (no operation waits for the
 * other thread).
 *
 * <p>Batches run with {@code n} of 0 or 1 only. A batch is specified as the sequence of single
 * operations it stands for, not as one atomic step: no CAS-free SPSC ring can make a batch that
 * stops short ("full" / "empty") atomic while the other side moves, and Lincheck checks atomic
 * operations. Larger batches are checked by {@link SpscRingConcurrencyTest} and {@link SpscRingTest}.
 *
 * <p>{@code size()} runs on the producer thread, where it is exact. From the consumer thread it can
 * lag: the consumer sees an element as soon as its slot is stored, before the producer's index
 * store that {@code size()} reads (see {@link SpscRing#size()}).
 */
@Param(name = "value", gen = IntGen.class, conf = "1:9")
@Param(name = "n", gen = IntGen.class, conf = "0:1")
public class SpscRingLincheckTest {
    static final int CAPACITY = 2;

    private final SpscRing<Integer> ring = new SpscRing<>(CAPACITY);

    @Operation(nonParallelGroup = "producer")
    public boolean offer(@Param(name = "value") int value) {
        return ring.offer(value);
    }

    /** Fills {@code n} elements {@code value*10, value*10+1, ...}. */
    @Operation(nonParallelGroup = "producer")
    public int fill(@Param(name = "value") int value, @Param(name = "n") int n) {
        int[] next = {value * 10};
        return ring.fill(() -> next[0]++, n);
    }

    @Operation(nonParallelGroup = "consumer")
    public Integer poll() {
        return ring.poll();
    }

    @Operation(nonParallelGroup = "consumer")
    public Integer peek() {
        return ring.peek();
    }

    @Operation(nonParallelGroup = "consumer")
    public List<Integer> drain(@Param(name = "n") int limit) {
        List<Integer> out = new ArrayList<>();
        int n = ring.drain(out::add, limit);
        if (n != out.size()) {
            throw new AssertionError("drain returned " + n + " but passed " + out.size());
        }
        return out;
    }

    /** From the producer thread size() is exact; see {@link SpscRing#size()} for the others. */
    @Operation(nonParallelGroup = "producer")
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
        private final ArrayDeque<Integer> q = new ArrayDeque<>();

        public boolean offer(int value) {
            if (q.size() == CAPACITY) {
                return false;
            }
            q.addLast(value);
            return true;
        }

        public int fill(int value, int n) {
            int added = 0;
            while (added < n && q.size() < CAPACITY) {
                q.addLast(value * 10 + added++);
            }
            return added;
        }

        public Integer poll() {
            return q.pollFirst();
        }

        public Integer peek() {
            return q.peekFirst();
        }

        public List<Integer> drain(int limit) {
            List<Integer> out = new ArrayList<>();
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
