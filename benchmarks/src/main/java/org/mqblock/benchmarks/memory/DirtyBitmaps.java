package org.mqblock.benchmarks.memory;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import org.mqblock.memory.workload.DirtyPages;

/**
 * The bitmaps {@link DirtyBitmapBench} compares, behind one small interface (the memory module's
 * {@link DirtyPages}, which figure F5 times too) so that a benchmark method has one call site
 * (monomorphic in each fork, since each trial runs one implementation).
 */
public final class DirtyBitmaps {

    private DirtyBitmaps() {}

    /** {@code atomic}, {@code rmw} or {@code synchronized}, over {@code pages} clear bits. */
    public static DirtyPages create(String impl, long pages) {
        return impl.equals("rmw") ? new RmwOnly(pages) : DirtyPages.create(impl, pages);
    }

    /** Always {@code getAndBitwiseOr} (QEMU's plain {@code atomic_or}): no read-first fast path. */
    static final class RmwOnly implements DirtyPages {
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
}
