package org.mqblock.memory;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.BitSet;
import java.util.SplittableRandom;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** DirtyBitmap: sequential semantics against a BitSet model, and no bit lost under concurrency. */
class DirtyBitmapTest {

    @Test
    void rangeOperationsMatchABitSetModel() {
        SplittableRandom rnd = new SplittableRandom(42);
        for (int trial = 0; trial < 200; trial++) {
            int pages = 1 + rnd.nextInt(700);
            DirtyBitmap bm = new DirtyBitmap(pages);
            BitSet model = new BitSet(pages);
            for (int op = 0; op < 60; op++) {
                int start = rnd.nextInt(pages);
                int count = rnd.nextInt(pages - start + 1);
                switch (rnd.nextInt(4)) {
                    case 0 -> {
                        bm.setDirtyRange(start, count);
                        model.set(start, start + count);
                    }
                    case 1 -> {
                        bm.setDirty(start);
                        model.set(start);
                    }
                    case 2 -> {
                        assertEquals(model.get(start), bm.testAndClear(start));
                        model.clear(start);
                    }
                    default -> {
                        long[] snap = new long[DirtyBitmap.snapshotWords(count) + 1];
                        snap[snap.length - 1] = 0x5a5a; // beyond the snapshot: must stay untouched
                        long n = bm.testAndClearRange(start, count, snap);
                        BitSet expected = model.get(start, start + count);
                        assertEquals(expected.cardinality(), n, "dirty count of [" + start + "+" + count + ")");
                        long[] want = java.util.Arrays.copyOf(expected.toLongArray(), snap.length - 1);
                        assertArrayEquals(want, java.util.Arrays.copyOf(snap, snap.length - 1),
                                "snapshot of [" + start + "+" + count + ") in " + pages + " pages");
                        assertEquals(0x5a5a, snap[snap.length - 1]);
                        model.clear(start, start + count);
                    }
                }
                assertEquals(model.cardinality(), bm.count());
                int probe = rnd.nextInt(pages);
                assertEquals(model.get(probe), bm.getDirty(probe));
            }
        }
    }

    @Test
    void testAndClearReportsEachBitOnce() {
        DirtyBitmap bm = new DirtyBitmap(130);
        bm.setDirty(129);
        bm.setDirty(129);
        assertTrue(bm.testAndClear(129));
        assertFalse(bm.testAndClear(129));
        bm.setDirtyRange(0, 130);
        long[] snap = new long[3];
        assertEquals(130, bm.testAndClearRange(0, 130, snap));
        assertEquals(0, bm.testAndClearRange(0, 130, snap));
        assertArrayEquals(new long[3], snap, "a second take finds nothing and zeroes the snapshot");
    }

    @Test
    void clearAllForgetsEverything() {
        DirtyBitmap bm = new DirtyBitmap(1000);
        bm.setDirtyRange(3, 990);
        bm.clearAll();
        assertEquals(0, bm.count());
    }

    @Test
    void outOfRangeArgumentsAreRefusedWithTheirValues() {
        DirtyBitmap bm = new DirtyBitmap(100);
        IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class, () -> bm.setDirty(100));
        assertTrue(e.getMessage().contains("page 100 outside a bitmap of 100 pages"), e.getMessage());
        assertThrows(IndexOutOfBoundsException.class, () -> bm.getDirty(-1));
        assertThrows(IndexOutOfBoundsException.class, () -> bm.setDirtyRange(90, 11));
        assertThrows(IndexOutOfBoundsException.class, () -> bm.testAndClearRange(1, 100, new long[2]));
        IllegalArgumentException small = assertThrows(IllegalArgumentException.class,
                () -> bm.testAndClearRange(0, 100, new long[1]));
        assertTrue(small.getMessage().contains("needs 2"), small.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new DirtyBitmap(0));
    }

    /**
     * The property migration rests on, stressed: writers store a value into a page's slot and
     * then mark the page; a consumer repeatedly takes all bits and copies the slots whose bits it
     * took. When the writers are done and one last take has been copied, the copy must equal the
     * data: a bit lost between setDirty and testAndClearRange, or a copy that missed the data
     * written before the bit it took, leaves a stale slot. A small bitmap (two words) makes
     * writers and consumer fight over the same words, so the read-before-RMW fast path races with
     * getAndSet all the time; a large one spreads them out.
     */
    @ParameterizedTest
    @ValueSource(ints = {128, 8192})
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void dirtyBitNeverLostBetweenSetDirtyAndTestAndClearRange(int pages) throws Exception {
        int writers = 3;
        int writesPerWriter = 1_500_000 * Stress.scale();
        long[] data = new long[pages];
        long[] copy = new long[pages];
        DirtyBitmap bm = new DirtyBitmap(pages);
        AtomicBoolean done = new AtomicBoolean();
        CyclicBarrier start = new CyclicBarrier(writers + 1);
        Thread[] ts = new Thread[writers];
        for (int w = 0; w < writers; w++) {
            final int id = w;
            ts[w] = new Thread(() -> {
                SplittableRandom rnd = new SplittableRandom(id * 7919L + pages);
                await(start);
                for (int i = 1; i <= writesPerWriter; i++) {
                    int p = rnd.nextInt(pages);
                    if ((i & 7) == 0 && p + 3 <= pages) {
                        for (int k = 0; k < 3; k++) {
                            data[p + k] = ((long) id << 48) | i; // plain stores, like guest data
                        }
                        bm.setDirtyRange(p, 3);
                    } else {
                        data[p] = ((long) id << 48) | i;
                        bm.setDirty(p);
                    }
                }
            }, "bitmap-writer-" + w);
            ts[w].start();
        }
        long[] snap = new long[DirtyBitmap.snapshotWords(pages)];
        Thread consumer = new Thread(() -> {
            await(start);
            while (!done.get()) {
                takeAndCopy(bm, snap, data, copy);
            }
        }, "bitmap-consumer");
        consumer.start();
        for (Thread t : ts) {
            t.join();
        }
        done.set(true);
        consumer.join();
        takeAndCopy(bm, snap, data, copy); // the final, quiescent round
        for (int p = 0; p < pages; p++) {
            assertEquals(data[p], copy[p], "page " + p + " lost its last write");
        }
        assertEquals(0, bm.count());
    }

    private static void takeAndCopy(DirtyBitmap bm, long[] snap, long[] data, long[] copy) {
        bm.testAndClearRange(0, bm.pages(), snap);
        for (int k = 0; k < snap.length; k++) {
            for (long w = snap[k]; w != 0; w &= w - 1) {
                int p = (k << 6) + Long.numberOfTrailingZeros(w);
                copy[p] = data[p];
            }
        }
    }

    static void await(CyclicBarrier b) {
        try {
            b.await();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
