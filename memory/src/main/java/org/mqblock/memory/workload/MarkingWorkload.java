package org.mqblock.memory.workload;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Writer threads marking pages of one bitmap while the calling thread takes the whole bitmap every
 * sync period, as a migration's dirty-log sync does: the workload of figure F5(a). Each writer
 * walks a sequence of pages fixed by its index ({@link Pages}), so a test can recompute every
 * page marked from the counts ({@link #marked}) and check that the takes saw each one
 * ({@link Result#seen}).
 */
public final class MarkingWorkload {

    private MarkingWorkload() {}

    /**
     * What a run did.
     *
     * @param marks setDirty calls per writer, in writer order
     * @param seconds the measured window
     * @param seen the union of every take and a final one: one bit per page that was set
     */
    public record Result(long[] marks, double seconds, long[] seen) {
        public long totalMarks() {
            long n = 0;
            for (long m : marks) {
                n += m;
            }
            return n;
        }

        public double marksPerSecond() {
            return totalMarks() / seconds;
        }
    }

    /** The pages each writer marks. */
    public enum Pages {
        /** Its own xorshift sequence: all writers share every cache line at random (F5's worst case). */
        RANDOM,
        /**
         * Writer {@code w} of {@code W} marks {@code w, w + W, w + 2W, ...}: neighbours in one word
         * at the same moment, and no page marked twice in a lap, so a lost mark stays lost.
         */
        INTERLEAVED
    }

    /** Stop flag: written once by the calling thread, read by the writers. */
    private static final class Stop {
        volatile boolean now;
    }

    /**
     * The pages the writers of a run marked, recomputed from their counts ({@link Result#marks}):
     * one bit per page, as {@link Result#seen} holds them.
     */
    public static long[] marked(Pages order, long[] marks, long pages) {
        long[] words = new long[(int) (pages >>> 6)];
        for (int w = 0; w < marks.length; w++) {
            long x = seed(w);
            for (long n = 0; n < marks[w]; n++) {
                long page;
                if (order == Pages.RANDOM) {
                    x = next(x);
                    page = x & (pages - 1);
                } else {
                    page = (w + n * marks.length) & (pages - 1);
                }
                words[(int) (page >>> 6)] |= 1L << page;
            }
        }
        return words;
    }

    private static long seed(int writer) {
        return 0x9e3779b97f4a7c15L * (writer + 1);
    }

    private static long next(long x) {
        x ^= x << 13;
        x ^= x >>> 7;
        return x ^ (x << 17);
    }

    /**
     * Runs {@code writers} threads for {@code ms} milliseconds over {@code bm} of {@code pages}
     * pages (a power of two), marking in {@code order}, taking the whole bitmap every {@code
     * syncPeriodNs}. Context: any thread, which becomes the consumer; the writers are daemon
     * threads joined before it returns.
     */
    public static Result run(DirtyPages bm, Pages order, long pages, int writers, long ms, long syncPeriodNs)
            throws InterruptedException {
        if (Long.bitCount(pages) != 1 || pages < 64) {
            throw new IllegalArgumentException("pages must be a power of two of at least 64, got " + pages);
        }
        long[] snapshot = new long[(int) (pages >>> 6)];
        long[] seen = new long[snapshot.length];
        Stop stop = new Stop();
        // Each writer stores its count here before it ends; the calling thread reads after join().
        long[] counts = new long[writers];
        CountDownLatch ready = new CountDownLatch(writers);
        CountDownLatch go = new CountDownLatch(1);
        List<Thread> threads = new ArrayList<>();
        for (int w = 0; w < writers; w++) {
            final int id = w;
            Thread th = new Thread(() -> {
                long x = seed(id);
                long n = 0;
                ready.countDown();
                try {
                    go.await();
                } catch (InterruptedException e) {
                    return;
                }
                // The volatile read per call also keeps C2 from coarsening the locked bitmap's
                // monitor across iterations, which would hide its cost.
                if (order == Pages.RANDOM) {
                    while (!stop.now) {
                        x = next(x);
                        bm.setDirty(x & (pages - 1));
                        n++;
                    }
                } else {
                    while (!stop.now) {
                        bm.setDirty((id + n * writers) & (pages - 1));
                        n++;
                    }
                }
                counts[id] = n;
            }, "marking-writer-" + w);
            th.setDaemon(true);
            threads.add(th);
            th.start();
        }
        ready.await();
        long t0 = System.nanoTime();
        go.countDown();
        long end = t0 + TimeUnit.MILLISECONDS.toNanos(ms);
        for (long next = t0 + syncPeriodNs; next - end < 0; next += syncPeriodNs) {
            LockSupport.parkNanos(next - System.nanoTime());
            take(bm, pages, snapshot, seen);
        }
        stop.now = true;
        long elapsed = System.nanoTime() - t0;
        for (Thread th : threads) {
            th.join();
        }
        take(bm, pages, snapshot, seen); // what the writers marked after the last take
        return new Result(counts, elapsed / 1e9, seen);
    }

    private static void take(DirtyPages bm, long pages, long[] snapshot, long[] seen) {
        bm.testAndClearRange(0, pages, snapshot);
        for (int k = 0; k < seen.length; k++) {
            seen[k] |= snapshot[k];
        }
    }
}
