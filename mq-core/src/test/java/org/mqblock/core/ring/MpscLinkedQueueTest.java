package org.mqblock.core.ring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import org.jetbrains.lincheck.datastructures.ModelCheckingOptions;
import org.jetbrains.lincheck.datastructures.Operation;
import org.jetbrains.lincheck.datastructures.Param;
import org.jetbrains.lincheck.datastructures.StressOptions;
import org.jetbrains.lincheck.datastructures.IntGen;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The intrusive MPSC queue under bottom halves and thread-pool completions.
 *
 * <p>{@code poll()} alone is not linearizable: it may return null while a producer is between its
 * exchange and its link, even for nodes offered before. What the loop relies on is {@code poll()}
 * together with {@code isEmpty()}: "null and not empty" only lasts until that producer links. The
 * Lincheck operation {@link #drainOne()} states exactly that contract and is checked against a
 * sequential FIFO.
 */
@Param(name = "value", gen = IntGen.class, conf = "1:5")
public class MpscLinkedQueueTest {

    static final class Item extends MpscLinkedQueue.Node {
        final int producer;
        final int value;

        Item(int producer, int value) {
            this.producer = producer;
            this.value = value;
        }
    }

    // ---- Lincheck: the queue under test and its sequential specification --------------------

    private final MpscLinkedQueue<Item> queue = new MpscLinkedQueue<>();

    @Operation
    public void offer(@Param(name = "value") int value) {
        queue.offer(new Item(0, value));
    }

    /** What a consumer sees: a node, or null only when nothing is queued nor being queued. */
    @Operation(nonParallelGroup = "consumer")
    public Integer drainOne() {
        while (true) {
            Item item = queue.poll();
            if (item != null) {
                return item.value;
            }
            if (queue.isEmpty()) {
                return null;
            }
            Thread.onSpinWait(); // a producer is linking its node
        }
    }

    /** Linearizes with offer at its exchange: an unlinked node already counts as queued. */
    @Operation(nonParallelGroup = "consumer")
    public boolean isEmpty() {
        return queue.isEmpty();
    }

    public static final class SequentialFifo {
        private final ArrayDeque<Integer> q = new ArrayDeque<>();

        public void offer(int value) {
            q.addLast(value);
        }

        public Integer drainOne() {
            return q.pollFirst();
        }

        public boolean isEmpty() {
            return q.isEmpty();
        }
    }

    @Test
    @Timeout(value = 600, unit = TimeUnit.SECONDS)
    void linearizableUnderModelChecking() {
        new ModelCheckingOptions()
                .threads(3)
                .actorsPerThread(3)
                .iterations(10)
                .invocationsPerIteration(500)
                .sequentialSpecification(SequentialFifo.class)
                .check(this.getClass());
    }

    @Test
    @Timeout(value = 600, unit = TimeUnit.SECONDS)
    void linearizableUnderStress() {
        new StressOptions()
                .threads(3)
                .actorsPerThread(4)
                .iterations(10)
                .invocationsPerIteration(2_000)
                .sequentialSpecification(SequentialFifo.class)
                .check(this.getClass());
    }

    // ---- Plain tests --------------------------------------------------------------------------

    @Test
    void singleThreadedFifoAndReuseOfNodes() {
        MpscLinkedQueue<Item> q = new MpscLinkedQueue<>();
        assertTrue(q.isEmpty());
        assertNull(q.poll());
        Item a = new Item(0, 1);
        Item b = new Item(0, 2);
        q.offer(a);
        q.offer(b);
        assertFalse(q.isEmpty());
        assertSame(a, q.poll());
        q.offer(a); // a node may be offered again once polled
        assertSame(b, q.poll());
        assertSame(a, q.poll());
        assertNull(q.poll());
        assertTrue(q.isEmpty());
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void perProducerFifoNoLossNoDuplicateUnderContention() throws Exception {
        final int producers = 4;
        final int perProducer = 250_000;
        MpscLinkedQueue<Item> q = new MpscLinkedQueue<>();
        Thread[] threads = new Thread[producers];
        for (int p = 0; p < producers; p++) {
            final int producer = p;
            threads[p] = new Thread(() -> {
                for (int i = 0; i < perProducer; i++) {
                    q.offer(new Item(producer, i));
                }
            });
            threads[p].start();
        }
        int[] next = new int[producers];
        long received = 0;
        while (received < (long) producers * perProducer) {
            Item item = q.poll();
            if (item == null) {
                Thread.onSpinWait();
                continue;
            }
            assertEquals(next[item.producer], item.value, "producer " + item.producer + " out of order or duplicated");
            next[item.producer]++;
            received++;
        }
        for (Thread t : threads) {
            t.join();
        }
        assertNull(q.poll());
        assertTrue(q.isEmpty());
        for (int p = 0; p < producers; p++) {
            assertEquals(perProducer, next[p]);
        }
    }
}
