package org.mqblock.core.ring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Two real threads, one producer and one consumer, mixing single and batch operations at random
 * over small rings so that every run wraps thousands of times. Each element carries its sequence
 * number, so one check per element proves FIFO order, no loss and no duplicate at once; elements
 * whose plain fields are written after construction prove that an offer happens-before the poll
 * that returns it. Both sides yield when they cannot progress (2 shared cores).
 */
class SpscRingConcurrencyTest {
    private static final int TEN_MILLION = 10_000_000;

    /** A message whose fields are plain and written after construction: only the ring orders them. */
    static final class Message {
        long seq;
        long check;
    }

    @Test
    @Timeout(120)
    void fifoNoLossNoDuplicateAcrossWraparound() throws Exception {
        SpscRing<Message> ring = new SpscRing<>(1024);
        long[] produced = {0};
        long[] consumed = {0};
        runPair(
                stop -> {
                    SplittableRandom random = new SplittableRandom(1);
                    long next = 0;
                    int idle = 0;
                    while (next < TEN_MILLION && !stop.get()) {
                        int added;
                        if (random.nextBoolean()) {
                            added = ring.offer(message(next)) ? 1 : 0;
                        } else {
                            long base = next;
                            int n = (int) Math.min(1 + random.nextInt(64), TEN_MILLION - next);
                            long[] k = {base};
                            added = ring.fill(() -> message(k[0]++), n);
                        }
                        next += added;
                        idle = backOff(added, idle);
                    }
                    produced[0] = next;
                },
                stop -> {
                    SplittableRandom random = new SplittableRandom(2);
                    long[] expected = {0};
                    int idle = 0;
                    while (expected[0] < TEN_MILLION && !stop.get()) {
                        int taken;
                        if (random.nextBoolean()) {
                            Message head = ring.peek();
                            Message m = ring.poll();
                            if (head != null && head != m) {
                                throw new AssertionError("peek " + head.seq + " but poll " + seqOf(m));
                            }
                            taken = m == null ? 0 : 1;
                            if (m != null) {
                                check(m, expected[0]++);
                            }
                        } else {
                            taken = ring.drain(m -> check(m, expected[0]++), 1 + random.nextInt(64));
                        }
                        idle = backOff(taken, idle);
                    }
                    consumed[0] = expected[0];
                });
        assertEquals(TEN_MILLION, produced[0]);
        assertEquals(TEN_MILLION, consumed[0]);
        assertEquals(null, ring.poll());
        assertEquals(0, ring.size());
    }

    @Test
    @Timeout(120)
    void longRingFifoNoLossNoDuplicateAcrossWraparound() throws Exception {
        SpscLongRing ring = new SpscLongRing(1024);
        // Values run from -N/2 to N/2: zero and negatives are ordinary values.
        final long first = -TEN_MILLION / 2;
        final long end = first + TEN_MILLION;
        long[] consumed = {0};
        runPair(
                stop -> {
                    SplittableRandom random = new SplittableRandom(3);
                    long next = first;
                    int idle = 0;
                    while (next < end && !stop.get()) {
                        int added;
                        if (random.nextBoolean()) {
                            added = ring.offer(next) ? 1 : 0;
                        } else {
                            int n = (int) Math.min(1 + random.nextInt(64), end - next);
                            long[] k = {next};
                            added = ring.fill(() -> k[0]++, n);
                        }
                        next += added;
                        idle = backOff(added, idle);
                    }
                },
                stop -> {
                    SplittableRandom random = new SplittableRandom(4);
                    long[] expected = {first};
                    int idle = 0;
                    while (expected[0] < end && !stop.get()) {
                        int taken;
                        if (random.nextBoolean()) {
                            long head = ring.peek(Long.MIN_VALUE);
                            long v = ring.poll(Long.MIN_VALUE);
                            if (head != Long.MIN_VALUE && head != v) {
                                throw new AssertionError("peek " + head + " but poll " + v);
                            }
                            taken = v == Long.MIN_VALUE ? 0 : 1;
                            if (taken == 1) {
                                checkValue(v, expected[0]++);
                            }
                        } else {
                            taken = ring.drain(v -> checkValue(v, expected[0]++), 1 + random.nextInt(64));
                        }
                        idle = backOff(taken, idle);
                    }
                    consumed[0] = expected[0] - first;
                });
        assertEquals(TEN_MILLION, consumed[0]);
        assertEquals(Long.MIN_VALUE, ring.poll(Long.MIN_VALUE));
    }

    @Test
    @Timeout(60)
    void capacityOneRingPassesEveryElementUnderContention() throws Exception {
        final int n = 200_000;
        SpscRing<Message> ring = new SpscRing<>(1);
        SpscLongRing longRing = new SpscLongRing(1);
        runPair(
                stop -> {
                    int idle = 0;
                    for (long i = 0; i < n && !stop.get(); i++) {
                        Message m = message(i);
                        while (!ring.offer(m) && !stop.get()) {
                            idle = backOff(0, idle);
                        }
                        while (!longRing.offer(i) && !stop.get()) {
                            idle = backOff(0, idle);
                        }
                    }
                },
                stop -> {
                    int idle = 0;
                    for (long i = 0; i < n && !stop.get(); i++) {
                        Message m;
                        while ((m = ring.poll()) == null && !stop.get()) {
                            idle = backOff(0, idle);
                        }
                        check(m, i);
                        long v;
                        while ((v = longRing.poll(-1)) == -1 && !stop.get()) {
                            idle = backOff(0, idle);
                        }
                        checkValue(v, i);
                    }
                });
        assertEquals(null, ring.poll());
        assertEquals(-1, longRing.poll(-1));
    }

    @Test
    @Timeout(60)
    void sizeSeenFromAThirdThreadStaysWithinZeroAndCapacity() throws Exception {
        final int n = 1_000_000;
        final int capacity = 64;
        SpscRing<Message> ring = new SpscRing<>(capacity);
        SpscLongRing longRing = new SpscLongRing(capacity);
        Message m = message(0);
        AtomicReference<Throwable> observerFailure = new AtomicReference<>();
        long[] observations = {0};
        Thread observer = new Thread(() -> {
            try {
                while (!Thread.currentThread().isInterrupted()) {
                    int s = ring.size();
                    int l = longRing.size();
                    if (s < 0 || s > capacity || l < 0 || l > capacity) {
                        throw new AssertionError("size out of bounds: " + s + ", " + l);
                    }
                    observations[0]++;
                    Thread.yield();
                }
            } catch (Throwable t) {
                observerFailure.set(t);
            }
        }, "size-observer");
        observer.start();
        try {
            runPair(
                    stop -> {
                        int idle = 0;
                        for (int i = 0; i < n && !stop.get(); ) {
                            if (ring.offer(m)) {
                                while (!longRing.offer(i) && !stop.get()) {
                                    idle = backOff(0, idle);
                                }
                                i++;
                                idle = 0;
                            } else {
                                idle = backOff(0, idle);
                            }
                            int s = ring.size(); // exact on the producer thread: never above capacity
                            if (s < 0 || s > capacity) {
                                throw new AssertionError("producer saw size " + s);
                            }
                        }
                    },
                    stop -> {
                        int idle = 0;
                        for (int i = 0; i < n && !stop.get(); ) {
                            if (ring.poll() != null) {
                                while (longRing.poll(-1) == -1 && !stop.get()) {
                                    idle = backOff(0, idle);
                                }
                                i++;
                                idle = 0;
                            } else {
                                idle = backOff(0, idle);
                            }
                        }
                    });
        } finally {
            observer.interrupt();
            observer.join(10_000);
        }
        if (observerFailure.get() != null) {
            throw new AssertionError(observerFailure.get());
        }
        assertTrue(observations[0] > 0);
        assertEquals(0, ring.size());
        assertEquals(0, longRing.size());
    }

    // ---- helpers ----

    static Message message(long seq) {
        Message m = new Message();
        m.seq = seq;
        m.check = ~seq;
        return m;
    }

    static long seqOf(Message m) {
        return m == null ? -1 : m.seq;
    }

    static void check(Message m, long expected) {
        if (m == null) {
            throw new AssertionError("null element where " + expected + " was due");
        }
        if (m.check != ~m.seq) {
            throw new AssertionError("element " + m.seq + " seen half-written: offer did not happen-before poll");
        }
        if (m.seq != expected) {
            throw new AssertionError("expected element " + expected + " but got " + m.seq
                    + (m.seq < expected ? " (duplicate or reordered)" : " (lost " + expected + ")"));
        }
    }

    static void checkValue(long v, long expected) {
        if (v != expected) {
            throw new AssertionError("expected value " + expected + " but got " + v);
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
