package org.mqblock.core.ring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Both rings under real threads: one producer and one consumer mixing single and batch operations
 * at random, so that every run wraps thousands of times and keeps running into "full" (where the
 * producer's look-ahead decides) and "empty". Each element is its sequence number, so one check per
 * element proves FIFO order, no loss and no duplicate at once. Before offering element {@code v} the
 * producer writes {@code ~v} plain into a side array, and the consumer checks it after taking
 * {@code v}: only the ring orders that write before that read (offer happens-before poll). Both
 * sides yield when they cannot progress (2 shared cores).
 *
 * <p>What real threads on x86 cannot show: a publication that lost its release ordering. x86 keeps
 * stores in order, so such a ring passes here unless C2 itself reorders the two stores; weakly
 * ordered hardware (AArch64) would show it.
 */
class RingConcurrencyTest {
    private static final int TEN_MILLION = 10_000_000;

    static Stream<Arguments> ringsAndCapacities() {
        return Stream.of(TestRing.Kind.values())
                .flatMap(k -> Stream.of(Arguments.of(k, 16), Arguments.of(k, 1024)));
    }

    @ParameterizedTest(name = "{0} capacity {1}")
    @MethodSource("ringsAndCapacities")
    @Timeout(120)
    void fifoNoLossNoDuplicateAndOfferHappensBeforePollAcrossWraparound(TestRing.Kind kind, int capacity)
            throws Exception {
        TestRing ring = kind.create(capacity);
        // Element v's side slot is only rewritten for v + 4 * capacity, which the producer can only
        // offer once the consumer has taken (and checked) v.
        final int sideMask = 4 * capacity - 1;
        final long[] side = new long[sideMask + 1];
        long[] produced = {0};
        long[] consumed = {0};
        runPair(
                stop -> {
                    SplittableRandom random = new SplittableRandom(1);
                    long[] next = {0};
                    int idle = 0;
                    while (next[0] < TEN_MILLION && !stop.get()) {
                        int added;
                        if (random.nextBoolean()) {
                            long v = next[0];
                            side[(int) v & sideMask] = ~v;
                            added = ring.offer(v) ? 1 : 0;
                            next[0] += added;
                        } else {
                            int n = (int) Math.min(1 + random.nextInt(2 * capacity), TEN_MILLION - next[0]);
                            added = ring.fill(() -> {
                                long v = next[0]++;
                                side[(int) v & sideMask] = ~v;
                                return v;
                            }, n);
                        }
                        idle = backOff(added, idle);
                    }
                    produced[0] = next[0];
                },
                stop -> {
                    SplittableRandom random = new SplittableRandom(2);
                    long[] expected = {0};
                    int idle = 0;
                    while (expected[0] < TEN_MILLION && !stop.get()) {
                        int taken;
                        if (random.nextBoolean()) {
                            long head = ring.peek();
                            long v = ring.poll();
                            if (head != TestRing.EMPTY && head != v) {
                                throw new AssertionError("peek " + head + " but poll " + v);
                            }
                            taken = v == TestRing.EMPTY ? 0 : 1;
                            if (taken == 1) {
                                check(v, expected[0]++, side, sideMask);
                            }
                        } else {
                            long before = expected[0];
                            taken = ring.drain(v -> check(v, expected[0]++, side, sideMask), 1 + random.nextInt(2 * capacity));
                            if (taken != expected[0] - before) {
                                throw new AssertionError("drain returned " + taken + " but passed " + (expected[0] - before));
                            }
                        }
                        idle = backOff(taken, idle);
                    }
                    consumed[0] = expected[0];
                });
        assertEquals(TEN_MILLION, produced[0]);
        assertEquals(TEN_MILLION, consumed[0]);
        assertEquals(TestRing.EMPTY, ring.poll());
        assertEquals(0, ring.size());
    }

    @ParameterizedTest
    @EnumSource(TestRing.Kind.class)
    @Timeout(60)
    void capacityOneRingPassesEveryElementUnderContention(TestRing.Kind kind) throws Exception {
        final int n = 200_000;
        TestRing ring = kind.create(1);
        runPair(
                stop -> {
                    int idle = 0;
                    for (long i = 0; i < n && !stop.get(); i++) {
                        while (!ring.offer(i) && !stop.get()) {
                            idle = backOff(0, idle);
                        }
                    }
                },
                stop -> {
                    int idle = 0;
                    for (long i = 0; i < n && !stop.get(); i++) {
                        long v;
                        while ((v = ring.poll()) == TestRing.EMPTY && !stop.get()) {
                            idle = backOff(0, idle);
                        }
                        if (v != i) {
                            throw new AssertionError("expected " + i + " but got " + v);
                        }
                    }
                });
        assertEquals(TestRing.EMPTY, ring.poll());
    }

    /**
     * One thread is producer and consumer at once, in lock step (offer, then poll), so at no instant
     * does the ring hold more than one element; two other threads call {@code size()} all along. A
     * size() that pairs an old consumer index with a newer producer index would count more than one.
     * {@link RingBatchModelCheckTest} checks the same under the model checker, which finds the
     * interleaving every time; here it takes luck in the timing.
     */
    @ParameterizedTest
    @EnumSource(TestRing.Kind.class)
    @Timeout(60)
    void sizeFromOtherThreadsIsASnapshotOfOneInstant(TestRing.Kind kind) throws Exception {
        final int n = 2_000_000;
        TestRing ring = kind.create(64);
        AtomicBoolean done = new AtomicBoolean();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        long[] observations = new long[2];
        Thread[] observers = new Thread[2];
        for (int o = 0; o < observers.length; o++) {
            final int id = o;
            observers[o] = new Thread(() -> {
                try {
                    while (!done.get()) {
                        int s = ring.size();
                        if (s < 0 || s > 1) {
                            throw new AssertionError("size() " + s + " but never more than 1 element was in the ring");
                        }
                        observations[id]++;
                    }
                } catch (Throwable t) {
                    failure.compareAndSet(null, t);
                }
            }, "size-observer-" + o);
            observers[o].start();
        }
        try {
            for (long i = 0; i < n && failure.get() == null; i++) {
                if (!ring.offer(i) || ring.poll() != i) {
                    throw new AssertionError("lock step lost element " + i);
                }
            }
        } finally {
            done.set(true);
            for (Thread t : observers) {
                t.join(10_000);
            }
        }
        if (failure.get() != null) {
            throw new AssertionError(failure.get());
        }
        assertTrue(observations[0] > 0 && observations[1] > 0);
        assertEquals(0, ring.size());
    }

    // ---- helpers ----

    static void check(long v, long expected, long[] side, int sideMask) {
        if (v != expected) {
            throw new AssertionError("expected element " + expected + " but got " + v
                    + (v < expected ? " (duplicate or reordered)" : " (lost " + expected + ")"));
        }
        long s = side[(int) v & sideMask];
        if (s != ~v) {
            throw new AssertionError("element " + v + " arrived before the producer's earlier write: offer did not"
                    + " happen-before the poll (side slot holds " + s + ")");
        }
    }

    /** Spin briefly, then yield: the two threads may share one core. Returns the new idle count. */
    static int backOff(int progress, int idle) {
        if (progress > 0) {
            return 0;
        }
        if (idle < 64) {
            Thread.onSpinWait();
        } else {
            Thread.yield();
        }
        return idle + 1;
    }

    interface Side {
        void run(AtomicBoolean stop) throws Exception;
    }

    /**
     * Runs {@code producer} on a new thread and {@code consumer} on this one; if either fails the
     * other is told to stop, and the first failure is rethrown.
     */
    static void runPair(Side producer, Side consumer) throws Exception {
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Throwable> producerFailure = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                producer.run(stop);
            } catch (Throwable e) {
                producerFailure.set(e);
                stop.set(true);
            }
        }, "ring-producer");
        t.start();
        try {
            consumer.run(stop);
        } catch (Throwable e) {
            stop.set(true);
            t.join(10_000);
            throw e;
        }
        t.join(60_000);
        if (producerFailure.get() != null) {
            throw new AssertionError("producer failed", producerFailure.get());
        }
        assertTrue(!t.isAlive(), "producer did not finish");
        assertTrue(!stop.get(), "stopped early");
    }
}
