package org.mqblock.core.ring;

import java.util.concurrent.atomic.AtomicReference;
import org.jetbrains.lincheck.Lincheck;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Properties of both rings that {@link RingLincheckTest}'s atomic specification cannot state,
 * checked with Lincheck's general model checker ({@link Lincheck#runConcurrentTest}), which runs the
 * block under many thread interleavings, switching threads at every shared-memory access:
 * <ul>
 *   <li>batches of any size, beyond the capacity and across the wrap, are the sequences of single
 *       operations they stand for: every element comes out once, in order, and each call's count
 *       is the number of elements it took from its supplier or passed to its consumer;
 *   <li>{@code size()} from another thread is a snapshot of the two indices at one instant, never a
 *       mix of an old consumer index with a newer producer index.
 * </ul>
 * The rings have capacity 4 (a look-ahead of one slot) and have done a lap and a half before the
 * threads start, so fills run into the producer's known-free limit and the look-ahead mid-batch.
 */
class RingBatchModelCheckTest {
    /** Interleavings explored per test; {@code -Dring.lincheck.scale} multiplies them. */
    private static final int SCALE = Integer.getInteger("ring.lincheck.scale", 1);
    private static final int BATCH_INVOCATIONS = 1_000 * SCALE;
    private static final int SIZE_INVOCATIONS = 1_000 * SCALE;
    private static final int CAPACITY = 4;

    @ParameterizedTest
    @EnumSource(TestRing.Kind.class)
    @Timeout(600)
    void batchesPassEveryElementOnceInOrderUnderModelChecking(TestRing.Kind kind) {
        Lincheck.runConcurrentTest(BATCH_INVOCATIONS, new BatchScenario(kind));
    }

    /** One run of the batch scenario (a named class: see {@link Counter}). */
    private static final class BatchScenario implements Runnable {
        private final TestRing.Kind kind;

        BatchScenario(TestRing.Kind kind) {
            this.kind = kind;
        }

        @Override
        public void run() {
            TestRing ring = kind.create(CAPACITY);
            // A lap and a half: the indices stand at 6 with the known-free limit used up.
            long[] next = {0};
            long[] expected = {0};
            for (int i = 0; i < 6; i++) {
                check(ring.offer(next[0]++), "offer while preparing");
                check(ring.poll() == expected[0]++, "poll while preparing");
            }
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread producer = new Thread(() -> {
                try {
                    fillCounting(ring, next, 3);
                    if (ring.offer(next[0])) {
                        next[0]++;
                    }
                    fillCounting(ring, next, 6); // more than the capacity
                } catch (Throwable t) {
                    failure.compareAndSet(null, t);
                }
            });
            Thread consumer = new Thread(() -> {
                try {
                    drainChecking(ring, expected, 2);
                    long v = ring.poll();
                    if (v != TestRing.EMPTY) {
                        check(v == expected[0]++, "poll returned " + v + " where " + (expected[0] - 1) + " was due");
                    }
                    drainChecking(ring, expected, 5); // more than the capacity
                } catch (Throwable t) {
                    failure.compareAndSet(null, t);
                }
            });
            producer.start();
            consumer.start();
            join(producer);
            join(consumer);
            if (failure.get() != null) {
                throw new AssertionError(failure.get());
            }
            // Thread.join orders both threads' writes before what follows.
            drainChecking(ring, expected, CAPACITY + 1);
            check(expected[0] == next[0], "consumed up to " + expected[0] + " but produced up to " + next[0]);
            check(ring.size() == 0, "size " + ring.size() + " after everything was taken");
            check(ring.poll() == TestRing.EMPTY, "an element after everything was taken");
        }
    }

    @ParameterizedTest
    @EnumSource(TestRing.Kind.class)
    @Timeout(600)
    void sizeFromAnotherThreadIsASnapshotOfOneInstantUnderModelChecking(TestRing.Kind kind) {
        Lincheck.runConcurrentTest(SIZE_INVOCATIONS, new SizeScenario(kind));
    }

    /** One run of the size scenario (a named class: see {@link Counter}). */
    private static final class SizeScenario implements Runnable {
        private final TestRing.Kind kind;

        SizeScenario(TestRing.Kind kind) {
            this.kind = kind;
        }

        @Override
        public void run() {
            TestRing ring = kind.create(CAPACITY);
            // One thread is both producer and consumer (the contract allows it) and works in lock
            // step, offer then poll, so at every instant at most one element is in the ring. A
            // size() that pairs an old consumer index with a newer producer index counts more.
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread lockStep = new Thread(() -> {
                for (int i = 0; i < 3; i++) {
                    if (!ring.offer(i) || ring.poll() != i) {
                        failure.compareAndSet(null, new AssertionError("lock step lost element " + i));
                    }
                }
            });
            Thread observer = new Thread(() -> {
                for (int i = 0; i < 2; i++) {
                    int s = ring.size();
                    if (s > 1) {
                        failure.compareAndSet(null, new AssertionError(
                                "size() " + s + " from another thread, but never more than 1 element was in the ring"));
                    }
                }
            });
            lockStep.start();
            observer.start();
            join(lockStep);
            join(observer);
            if (failure.get() != null) {
                throw new AssertionError(failure.get());
            }
        }
    }

    // ---- helpers ----

    /** Fills up to {@code n} from a counting supplier and checks the count returned against the calls. */
    private static void fillCounting(TestRing ring, long[] next, int n) {
        long before = next[0];
        int added = ring.fill(new Counter(next), n);
        check(added == next[0] - before, "fill returned " + added + " but took " + (next[0] - before));
        check(added <= n, "fill added " + added + " of " + n);
    }

    /** Drains up to {@code limit}, checking each element's order and the count returned. */
    private static void drainChecking(TestRing ring, long[] expected, int limit) {
        long before = expected[0];
        int n = ring.drain(new InOrder(expected), limit);
        check(n == expected[0] - before, "drain returned " + n + " but passed " + (expected[0] - before));
        check(n <= limit, "drain took " + n + " of " + limit);
    }

    /*
     * Named classes, not lambdas, for the suppliers and consumers: the model checker cannot read a
     * lambda's captured fields (a hidden class) on recent JDKs and warns about each.
     */

    /** Supplies {@code next[0]++}. */
    private static final class Counter implements java.util.function.LongSupplier {
        private final long[] next;

        Counter(long[] next) {
            this.next = next;
        }

        @Override
        public long getAsLong() {
            return next[0]++;
        }
    }

    /** Accepts exactly {@code expected[0]}, then expects the next. */
    private static final class InOrder implements java.util.function.LongConsumer {
        private final long[] expected;

        InOrder(long[] expected) {
            this.expected = expected;
        }

        @Override
        public void accept(long v) {
            if (v != expected[0]) {
                throw new AssertionError("expected " + expected[0] + " but got " + v
                        + (v < expected[0] ? " (duplicate or reordered)" : " (lost " + expected[0] + ")"));
            }
            expected[0]++;
        }
    }

    private static void join(Thread t) {
        try {
            t.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private static void check(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what);
        }
    }
}
