package org.mqblock.memory;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The property migration rests on, checked round by round while writers run: every page whose
 * write completed before a consumer's take is, after that take and the copy of the pages it
 * took, either copied with that write's data (or newer) or was copied so in an earlier round.
 * A bit lost between a writer's mark and a take, or a copy that misses the data written before
 * the bit it took, shows as a page whose copy is older than a write that completed before the
 * round began: the round that missed it, or the next one, fails, naming the page.
 *
 * <p>How: each page belongs to one writer (groups of {@code groupPages} consecutive pages dealt
 * round-robin to the writers, so every bitmap word is fought over), so its data, a generation,
 * only grows. A writer stores the generation into the page, marks it (through the {@link
 * Target}), and then publishes "page p has generation g" with a release store. Each round the
 * consumer first reads those (acquire), then takes each bitmap's bits and copies the pages it
 * took, then checks every page: the copy must hold at least what was published before the take.
 */
final class DirtyRounds {

    private static final VarHandle DONE = MethodHandles.arrayElementVarHandle(long[].class);

    private DirtyRounds() {}

    /** What the writers write and the consumer takes. */
    interface Target {
        long pages();

        /** Stores {@code gen} as page {@code page}'s data, then marks it dirty. */
        void write(Writer w, long page, long gen);

        /** Stores {@code gen} into pages {@code [first, first + count)}, then marks them. */
        void writeRange(Writer w, long first, int count, long gen);

        /** The page's data, read with plain loads as a migrator does. */
        long read(long page);

        /** The consumers' bitmaps: every one must see every write. */
        DirtyBitmap[] bitmaps();

        /** Per-writer state (a Dma, a buffer); made on the writer's thread. */
        default Writer newWriter(int id) {
            return new Writer(id);
        }
    }

    /** A writer's own state; subclass it for a target's needs. */
    static class Writer {
        final int id;

        Writer(int id) {
            this.id = id;
        }
    }

    /** How the consumer takes bits: a whole-range snapshot, or a page at a time. */
    enum Take {
        RANGE,
        PAGE
    }

    record Config(int writers, int writesPerWriter, int groupPages, Take take) {}

    /**
     * @param violation the first lost write found, or null
     * @param concurrentRounds rounds that ran while some writer was still writing
     * @param bitsTakenConcurrently bits those rounds took
     */
    record Result(String violation, List<Throwable> errors, long concurrentRounds, long bitsTakenConcurrently) {}

    static Result run(Target t, Config c) throws InterruptedException {
        int pages = (int) t.pages();
        long[] done = new long[pages];
        DirtyBitmap[] bms = t.bitmaps();
        long[][] copies = new long[bms.length][pages];
        Queue<Throwable> errors = new ConcurrentLinkedQueue<>();
        AtomicBoolean writing = new AtomicBoolean(true);
        CyclicBarrier start = new CyclicBarrier(c.writers() + 1);
        int groups = (pages + c.groupPages() - 1) / c.groupPages();
        if (groups < c.writers()) {
            throw new IllegalArgumentException(groups + " groups cannot feed " + c.writers() + " writers");
        }
        Thread[] ts = new Thread[c.writers()];
        for (int w = 0; w < c.writers(); w++) {
            final int id = w;
            ts[w] = new Thread(() -> {
                try {
                    Writer me = t.newWriter(id);
                    SplittableRandom rnd = new SplittableRandom(id * 7919L + pages);
                    int owned = (groups - id + c.writers() - 1) / c.writers(); // groups id, id+W, id+2W, ...
                    start.await(30, TimeUnit.SECONDS);
                    for (long gen = 1; gen <= c.writesPerWriter(); gen++) {
                        int g = id + c.writers() * rnd.nextInt(owned);
                        int first = g * c.groupPages();
                        int count = Math.min(c.groupPages(), pages - first);
                        if ((gen & 7) == 0 && count > 1) {
                            t.writeRange(me, first, count, gen);
                            for (int p = first; p < first + count; p++) {
                                DONE.setRelease(done, p, gen);
                            }
                        } else {
                            int p = first + rnd.nextInt(count);
                            t.write(me, p, gen);
                            DONE.setRelease(done, p, gen);
                        }
                    }
                } catch (Throwable e) {
                    errors.add(e);
                }
            }, "dirty-writer-" + w);
            ts[w].start();
        }
        long[] snap = new long[DirtyBitmap.snapshotWords(pages)];
        long[] expected = new long[pages];
        String[] violation = new String[1];
        long[] concurrent = new long[2];
        Thread consumer = new Thread(() -> {
            try {
                start.await(30, TimeUnit.SECONDS);
                for (long round = 1; violation[0] == null; round++) {
                    boolean last = !writing.get(); // read before the round: no write runs during a last round
                    long taken = round(t, c.take(), done, expected, snap, copies, round, violation);
                    if (last) {
                        break;
                    }
                    concurrent[0]++;
                    concurrent[1] += taken;
                }
            } catch (Throwable e) {
                errors.add(e);
            }
        }, "dirty-consumer");
        consumer.start();
        for (Thread th : ts) {
            th.join();
        }
        writing.set(false);
        consumer.join();
        if (violation[0] == null && errors.isEmpty()) {
            for (int k = 0; k < bms.length; k++) {
                for (int p = 0; p < pages; p++) {
                    if (copies[k][p] != t.read(p)) {
                        violation[0] = "after the last, quiescent round, bitmap " + k + ": page " + p + " holds "
                                + t.read(p) + " but its copy " + copies[k][p];
                        break;
                    }
                }
            }
        }
        return new Result(violation[0], new ArrayList<>(errors), concurrent[0], concurrent[1]);
    }

    /** One round: read what completed, take and copy, check. Returns the bits taken. */
    private static long round(Target t, Take take, long[] done, long[] expected, long[] snap, long[][] copies,
                              long round, String[] violation) {
        int pages = expected.length;
        for (int p = 0; p < pages; p++) {
            expected[p] = (long) DONE.getAcquire(done, p); // every one of these writes completed before the take
        }
        DirtyBitmap[] bms = t.bitmaps();
        long taken = 0;
        for (int k = 0; k < bms.length; k++) {
            long[] copy = copies[k];
            if (take == Take.RANGE) {
                taken += bms[k].testAndClearRange(0, pages, snap);
                for (int w = 0; w < snap.length; w++) {
                    for (long bits = snap[w]; bits != 0; bits &= bits - 1) {
                        int p = (w << 6) + Long.numberOfTrailingZeros(bits);
                        copy[p] = t.read(p);
                    }
                }
            } else {
                for (int p = 0; p < pages; p++) {
                    if (bms[k].testAndClear(p)) {
                        copy[p] = t.read(p);
                        taken++;
                    }
                }
            }
            for (int p = 0; p < pages; p++) {
                if (copy[p] < expected[p]) {
                    violation[0] = "round " + round + ", bitmap " + k + ": page " + p + " was written with generation "
                            + expected[p] + " before the take, but its copy holds " + copy[p]
                            + " (a dirty bit lost, or a copy older than the write whose bit it took)";
                    return taken;
                }
            }
        }
        return taken;
    }
}
