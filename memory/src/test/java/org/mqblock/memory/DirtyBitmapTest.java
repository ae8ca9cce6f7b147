package org.mqblock.memory;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.BitSet;
import java.util.Queue;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

/** DirtyBitmap: sequential semantics against a BitSet model, and no bit lost under concurrency, round by round. */
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
     * Every bit a writer sets on a clear page is taken by exactly one take: never lost, never
     * taken twice. A writer sets page p again only once the consumer has taken p's previous bit,
     * so no later write can hide a lost one (as it can in the round test below, where a rewrite
     * sets the bit again). After each take, every set that completed before the take began must
     * have been reported: the first round that misses one fails, naming the page. Two words of 64
     * pages and a consumer that does nothing but take, so that writers' RMWs keep landing between
     * a take's read and its clear.
     */
    @ParameterizedTest
    @EnumSource(DirtyRounds.Take.class)
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void everyBitSetIsTakenExactlyOnce(DirtyRounds.Take take) throws Exception {
        int pages = 128;
        int writers = 2;
        long setsPerWriter = 100_000L * Stress.scale();
        DirtyBitmap bm = new DirtyBitmap(pages);
        long[] sets = new long[pages]; // by the page's writer, a release store before it sets the bit
        long[] completed = new long[pages]; // by the page's writer, a release store after setDirty returned
        long[] taken = new long[pages]; // by the consumer, a release store after it took the bit
        Queue<Throwable> errors = new ConcurrentLinkedQueue<>();
        AtomicBoolean writing = new AtomicBoolean(true);
        AtomicBoolean failed = new AtomicBoolean();
        Thread[] ts = new Thread[writers];
        for (int w = 0; w < writers; w++) {
            final int id = w;
            ts[w] = new Thread(() -> {
                try {
                    long done = 0;
                    for (int p = id; done < setsPerWriter && !failed.get(); p = (p + writers) % pages) {
                        long n = (long) LONGS.getAcquire(sets, p);
                        if ((long) LONGS.getAcquire(taken, p) == n) { // the previous bit was taken: set it again
                            LONGS.setRelease(sets, p, n + 1);
                            bm.setDirty(p);
                            LONGS.setRelease(completed, p, n + 1);
                            done++;
                        }
                    }
                } catch (Throwable e) {
                    errors.add(e);
                }
            }, "bitmap-writer-" + w);
        }
        long[] snap = new long[DirtyBitmap.snapshotWords(pages)];
        long[] before = new long[pages];
        Thread consumer = new Thread(() -> {
            try {
                boolean more = true;
                while (more) { // until one round after the writers stopped: then nothing set is left
                    boolean last = !writing.get();
                    for (int p = 0; p < pages; p++) {
                        before[p] = (long) LONGS.getAcquire(completed, p);
                    }
                    for (int p = 0; p < pages; p++) {
                        if (take == DirtyRounds.Take.PAGE && bm.testAndClear(p)) {
                            took(p, sets, taken);
                        }
                    }
                    if (take == DirtyRounds.Take.RANGE && bm.testAndClearRange(0, pages, snap) != 0) {
                        for (int k = 0; k < snap.length; k++) {
                            for (long bits = snap[k]; bits != 0; bits &= bits - 1) {
                                took((k << 6) + Long.numberOfTrailingZeros(bits), sets, taken);
                            }
                        }
                    }
                    for (int p = 0; p < pages; p++) {
                        if (taken[p] < before[p]) {
                            throw new AssertionError("page " + p + ": set number " + before[p] + " completed before"
                                    + " the take, but the take did not report it (a bit lost; taken " + taken[p] + ")");
                        }
                    }
                    more = !last;
                }
            } catch (Throwable e) {
                errors.add(e);
                failed.set(true);
            }
        }, "bitmap-consumer");
        consumer.start();
        for (Thread t : ts) {
            t.start();
        }
        for (Thread t : ts) {
            t.join();
        }
        writing.set(false);
        consumer.join();
        assertTrue(errors.isEmpty(), () -> "a thread failed: " + errors);
        long total = 0;
        for (int p = 0; p < pages; p++) {
            total += taken[p];
            assertEquals(sets[p], taken[p], "page " + p + ": every set taken, once");
        }
        assertEquals(writers * setsPerWriter, total);
    }

    private static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);

    /** The consumer took page p's bit: it must be the one bit set since the last take. */
    private static void took(int p, long[] sets, long[] taken) {
        long t = taken[p] + 1;
        long s = (long) LONGS.getAcquire(sets, p);
        if (t > s) {
            throw new AssertionError("page " + p + " taken " + t + " times but set " + s + " times: a bit taken twice");
        }
        LONGS.setRelease(taken, p, t);
    }

    /**
     * No dirty bit is lost between {@code setDirty}/{@code setDirtyRange} and a take, checked
     * round by round while the writers run ({@link DirtyRounds}): after each take, every page
     * written before it began is copied with that write or newer. The data are plain {@code long}
     * stores and loads, like guest RAM. A small bitmap (two words, groups of three pages so that
     * range writes cross the word boundary) makes writers and consumer fight over the same words,
     * so the read-before-RMW fast path races with getAndSet all the time; a large one (groups of
     * 130 pages) also sets whole words with release stores. Taken as snapshots
     * ({@code testAndClearRange}) and a page at a time ({@code testAndClear}).
     */
    @ParameterizedTest(name = "{0} pages in groups of {1}, taken by {2}")
    @CsvSource({"128, 3, RANGE", "128, 3, PAGE", "8192, 130, RANGE", "8192, 130, PAGE"})
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void dirtyBitNeverLostBetweenSetDirtyAndTake(int pages, int groupPages, DirtyRounds.Take take) throws Exception {
        long[] data = new long[pages];
        DirtyBitmap bm = new DirtyBitmap(pages);
        DirtyBitmap[] bms = {bm};
        DirtyRounds.Target target = new DirtyRounds.Target() {
            @Override
            public long pages() {
                return pages;
            }

            @Override
            public void write(DirtyRounds.Writer w, long page, long gen) {
                data[(int) page] = gen; // a plain store, like guest data
                bm.setDirty(page);
            }

            @Override
            public void writeRange(DirtyRounds.Writer w, long first, int count, long gen) {
                for (int k = 0; k < count; k++) {
                    data[(int) first + k] = gen;
                }
                bm.setDirtyRange(first, count);
            }

            @Override
            public long read(long page) {
                return data[(int) page];
            }

            @Override
            public DirtyBitmap[] bitmaps() {
                return bms;
            }
        };
        DirtyRounds.Result r = DirtyRounds.run(target,
                new DirtyRounds.Config(2, 1_000_000 * Stress.scale(), groupPages, take));
        assertTrue(r.errors().isEmpty(), () -> "a thread failed: " + r.errors());
        assertNull(r.violation(), r.violation());
        assertTrue(r.concurrentRounds() > 0 && r.bitsTakenConcurrently() > 0,
                "no round ran while the writers wrote: the property was not tested (" + r + ")");
        assertEquals(0, bm.count(), "the last round took every bit");
        System.out.println("dirty bitmap, " + pages + " pages, " + take + ": " + r.concurrentRounds()
                + " rounds checked while writing, " + r.bitsTakenConcurrently() + " bits taken");
    }
}
