package org.mqblock.memory.workload;

import org.mqblock.memory.DirtyBitmap;

/**
 * A dirty-page bitmap as {@link MarkingWorkload} uses it: {@link DirtyBitmap} itself, or the
 * baseline it replaces, one lock around the whole bitmap (the global mutex before atomics).
 */
public interface DirtyPages {

    /** Context: any thread. */
    void setDirty(long page);

    /**
     * Clears the word-aligned range {@code [start, start + count)} into {@code snapshot} (one word
     * per 64 pages) and returns the pages that were set. Context: any thread.
     */
    long testAndClearRange(long start, long count, long[] snapshot);

    /** {@code atomic} ({@link DirtyBitmap}) or {@code synchronized} (the locked baseline), over {@code pages} clear bits. */
    static DirtyPages create(String impl, long pages) {
        return switch (impl) {
            case "atomic" -> atomic(pages);
            case "synchronized" -> new Locked(pages);
            default -> throw new IllegalArgumentException("bitmap '" + impl + "' is not one of atomic, synchronized");
        };
    }

    static DirtyPages atomic(long pages) {
        DirtyBitmap bm = new DirtyBitmap(pages);
        return new DirtyPages() {
            @Override
            public void setDirty(long page) {
                bm.setDirty(page);
            }

            @Override
            public long testAndClearRange(long start, long count, long[] snapshot) {
                return bm.testAndClearRange(start, count, snapshot);
            }
        };
    }

    /** The pre-atomics baseline: every call takes one monitor, the take holds it for the whole range. */
    final class Locked implements DirtyPages {
        /** Guarded by this object's monitor. */
        private final long[] words;

        public Locked(long pages) {
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
