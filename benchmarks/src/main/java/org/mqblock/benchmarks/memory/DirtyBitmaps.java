package org.mqblock.benchmarks.memory;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import org.mqblock.memory.DirtyBitmap;

/**
 * The bitmaps {@link DirtyBitmapBench} compares, behind one small interface so that a benchmark
 * method has one call site (monomorphic in each fork, since each trial runs one implementation).
 * The locked baseline is the one figure F5 times too ({@link org.mqblock.memory.workload.DirtyPages.Locked}).
 */
public final class DirtyBitmaps {

    private DirtyBitmaps() {}

    public interface Bitmap {
        void setDirty(long page);

        long testAndClearRange(long start, long count, long[] snapshot);
    }

    /** {@code atomic}, {@code rmw} or {@code synchronized}, over {@code pages} clear bits. */
    public static Bitmap create(String impl, long pages) {
        return switch (impl) {
            case "atomic" -> new Atomic(pages);
            case "rmw" -> new RmwOnly(pages);
            case "synchronized" -> new Synchronized(pages);
            default -> throw new IllegalArgumentException("unknown bitmap " + impl);
        };
    }

    /** The real one: fence, read, RMW only if the bit is clear. */
    static final class Atomic implements Bitmap {
        final DirtyBitmap bm;

        Atomic(long pages) {
            bm = new DirtyBitmap(pages);
        }

        @Override
        public void setDirty(long page) {
            bm.setDirty(page);
        }

        @Override
        public long testAndClearRange(long start, long count, long[] snapshot) {
            return bm.testAndClearRange(start, count, snapshot);
        }
    }

    /** Always {@code getAndBitwiseOr} (QEMU's plain {@code atomic_or}): no read-first fast path. */
    static final class RmwOnly implements Bitmap {
        private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);
        final long[] words;

        RmwOnly(long pages) {
            words = new long[(int) ((pages + 63) >>> 6)];
        }

        @Override
        public void setDirty(long page) {
            WORDS.getAndBitwiseOr(words, (int) (page >>> 6), 1L << page);
        }

        @Override
        public long testAndClearRange(long start, long count, long[] snapshot) {
            long n = 0;
            int first = (int) (start >>> 6);
            for (int k = 0; k < (count + 63) >>> 6; k++) { // word-aligned ranges only, as the benchmark uses
                long w = (long) WORDS.getAndSet(words, first + k, 0L);
                snapshot[k] = w;
                n += Long.bitCount(w);
            }
            return n;
        }
    }

    /** The pre-atomics world: one lock around the bitmap (the global mutex of the 2014 talk). */
    static final class Synchronized implements Bitmap {
        final long[] words;

        Synchronized(long pages) {
            words = new long[(int) ((pages + 63) >>> 6)];
        }

        @Override
        public synchronized void setDirty(long page) {
            words[(int) (page >>> 6)] |= 1L << page;
        }

        @Override
        public synchronized long testAndClearRange(long start, long count, long[] snapshot) {
            long n = 0;
            int first = (int) (start >>> 6);
            for (int k = 0; k < (count + 63) >>> 6; k++) {
                long w = words[first + k];
                words[first + k] = 0;
                snapshot[k] = w;
                n += Long.bitCount(w);
            }
            return n;
        }
    }
}
