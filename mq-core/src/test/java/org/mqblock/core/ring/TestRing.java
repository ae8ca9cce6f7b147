package org.mqblock.core.ring;

import java.util.function.LongConsumer;
import java.util.function.LongSupplier;

/**
 * Both rings behind one interface of {@code long} values, so that each concurrency property is
 * checked against both (the reference ring carries boxed {@code Long}s). Threads: the same as the
 * ring's own methods.
 */
interface TestRing {
    /** What {@link #poll} and {@link #peek} return when the ring is empty: never offered by a test. */
    long EMPTY = Long.MIN_VALUE;

    /** The rings under test; {@link #toString()} names them in test reports. */
    enum Kind {
        SPSC_RING {
            @Override
            TestRing create(int capacity) {
                return new OfRef(new SpscRing<>(capacity));
            }
        },
        SPSC_LONG_RING {
            @Override
            TestRing create(int capacity) {
                return new OfLong(new SpscLongRing(capacity));
            }
        };

        abstract TestRing create(int capacity);
    }

    boolean offer(long value);

    int fill(LongSupplier supplier, int n);

    long poll();

    long peek();

    int drain(LongConsumer consumer, int limit);

    int size();

    int capacity();

    /**
     * {@link SpscRing} of boxed values. The adapters are named classes, not lambdas: Lincheck's
     * model checker cannot read the captured fields of a lambda (a hidden class) on recent JDKs and
     * warns about each.
     */
    final class OfRef implements TestRing {
        final SpscRing<Long> ring;

        OfRef(SpscRing<Long> ring) {
            this.ring = ring;
        }

        @Override public boolean offer(long value) { return ring.offer(value); }
        @Override public int fill(LongSupplier supplier, int n) { return ring.fill(new Boxing(supplier), n); }
        @Override public long poll() { Long v = ring.poll(); return v == null ? EMPTY : v; }
        @Override public long peek() { Long v = ring.peek(); return v == null ? EMPTY : v; }
        @Override public int drain(LongConsumer consumer, int limit) { return ring.drain(new Unboxing(consumer), limit); }
        @Override public int size() { return ring.size(); }
        @Override public int capacity() { return ring.capacity(); }

        private static final class Boxing implements java.util.function.Supplier<Long> {
            private final LongSupplier supplier;

            Boxing(LongSupplier supplier) {
                this.supplier = supplier;
            }

            @Override
            public Long get() {
                return supplier.getAsLong();
            }
        }

        private static final class Unboxing implements java.util.function.Consumer<Long> {
            private final LongConsumer consumer;

            Unboxing(LongConsumer consumer) {
                this.consumer = consumer;
            }

            @Override
            public void accept(Long v) {
                consumer.accept(v);
            }
        }
    }

    /** {@link SpscLongRing}, with {@link #EMPTY} as the sentinel. */
    final class OfLong implements TestRing {
        final SpscLongRing ring;

        OfLong(SpscLongRing ring) {
            this.ring = ring;
        }

        @Override public boolean offer(long value) { return ring.offer(value); }
        @Override public int fill(LongSupplier supplier, int n) { return ring.fill(supplier, n); }
        @Override public long poll() { return ring.poll(EMPTY); }
        @Override public long peek() { return ring.peek(EMPTY); }
        @Override public int drain(LongConsumer consumer, int limit) { return ring.drain(consumer, limit); }
        @Override public int size() { return ring.size(); }
        @Override public int capacity() { return ring.capacity(); }
    }
}
