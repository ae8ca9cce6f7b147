package org.mqblock.memory;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Objects;

/**
 * One bit per guest page, set by the threads that write guest memory and taken by the thread that
 * consumes them (migration, a display), lock-free: QEMU's {@code ram_list.dirty_memory[client]}
 * with the atomics of util/bitmap.c ({@code bitmap_set_atomic}, {@code
 * bitmap_test_and_clear_atomic}) and the conversions the KVM Forum 2014 talk proposed
 * ({@code set_dirty -> atomic_or}, {@code test_and_clear_dirty -> atomic_xchg}).
 *
 * <p>The bits live in a {@code long[]} accessed only through a {@link VarHandle}. Word {@code i}
 * holds pages {@code 64*i .. 64*i+63}, page {@code p} at bit {@code p & 63}.
 *
 * <h2>Operations and the ordering each gives</h2>
 * <ul>
 *   <li>{@link #setDirty} and {@link #setDirtyRange} (writers, any number of threads): an opaque
 *       read of the word; if a bit to set is clear, a volatile {@code getAndBitwiseOr} (a word
 *       entirely inside the range is stored whole, with a release store); if every bit is already
 *       set, a full fence and a second read, which decides whether the write can be skipped.
 *       Several writers can set bits of one word at the same time without losing any.
 *   <li>{@link #testAndClear} and {@link #testAndClearRange} (the consumer): a volatile {@code
 *       getAndBitwiseAnd} or {@code getAndSet(0)} per word that has a bit to take, so the consumer
 *       gets each set bit exactly once, and acquires what the writer published before setting it;
 *       then, if a bit was taken, one full fence, so that the consumer's page reads that follow
 *       cannot be performed before the take (QEMU's {@code smp_mb__after_rmw()}). Words that
 *       read zero are skipped without a write.
 *   <li>{@link #getDirty}: a volatile read ({@code atomic_mb_read} in the talk). {@link #count}:
 *       opaque reads of every word: exact when no writer runs, otherwise some value between the
 *       counts before and after the concurrent operations.
 * </ul>
 *
 * <h2>Why the consumer sees the data of every page whose bit it takes</h2>
 * Migration is correct if, whenever the migrator copies a page after taking its bit, the copy is
 * at least as new as the write that set the bit; and every write that the copy may have missed
 * leaves the bit set for a later round. The protocol: a writer <em>first</em> stores its data into
 * the page, <em>then</em> calls {@code setDirty}; the migrator <em>first</em> takes the bit with
 * {@code getAndSet}, <em>then</em> reads the page.
 * <ul>
 *   <li>If the writer performs the {@code getAndBitwiseOr} (or the release store), that write has
 *       release semantics and the migrator's {@code getAndSet} that reads it has acquire
 *       semantics: the page data written before happens-before the migrator's copy.
 *   <li>If the writer skips the RMW because the bit already reads set, it published nothing. The
 *       fence before the read that decides the skip is what makes this safe: it orders the
 *       writer's data stores before that read of the word (a StoreLoad barrier; without it a store
 *       can still sit in the store buffer when the read executes). (The first read, made without
 *       a fence, only picks the path: if it sees the bit clear, the RMW is safe whatever it saw;
 *       if it sees it set, the fenced second read decides.) The read saw the bit set, so it came
 *       before the migrator's {@code getAndSet} that clears it; the data stores came before the
 *       read; and the migrator's page reads come after its {@code getAndSet} because the migrator
 *       issues a full fence right after taking bits. So the migrator copies the new data. This is
 *       the Dekker pattern with a full fence on each side: the writer's between its data stores
 *       and its read of the word, the consumer's between the store of its RMW and its page reads.
 *       The consumer's fence is not redundant. Here the writer published nothing, so the RMW
 *       synchronizes with no write of the data; the Java memory model then says nothing about
 *       how the later plain page loads are ordered against the RMW, and acquire semantics only
 *       keep them after the RMW's <em>read</em>. On a weakly ordered CPU (an AArch64
 *       load-exclusive/store-exclusive pair, POWER's lwarx/stwcx.) those loads can be satisfied
 *       before the RMW's store is visible, while the writer's fenced read still sees the bit set:
 *       both sides would miss. QEMU added {@code smp_mb__after_rmw()} for this class of bug; the
 *       pairing is the one between {@code bitmap_set_atomic}'s barrier and the {@code
 *       atomic_xchg} of {@code cpu_physical_memory_sync_dirty_bitmap}. The guest data itself is
 *       written and read without synchronization (as guest RAM is): the argument rests on what
 *       {@link VarHandle#fullFence()} specifies (no load or store before it is reordered with
 *       one after it), not on happens-before.
 *   <li>A writer that stores its data after the migrator took the bit (the page is "written
 *       after the migrator cleared the bit but before it copied", or while or after it copied)
 *       sets the bit again: the migrator may copy a half-written page now, but sends the page
 *       again in its next round. Only the last round, run with writers stopped, has to be clean.
 * </ul>
 * The skip costs a fence instead of an RMW, so no more on one core; what it saves is the cache
 * line: a writer that re-dirties a page already dirty only reads the shared word, so writers
 * hammering pages of the same 256 KiB (one word) do not bounce it between cores. Setting a clear
 * bit costs a read and the RMW, no fence (the RMW orders the data itself); the read may fetch the
 * line shared before the RMW takes it exclusive. (An earlier version fenced before the first
 * read: with a consumer clearing the bitmap every millisecond, most writes found their bit clear
 * and paid fence plus RMW, about twice a plain RMW; DirtyBitmapSyncBench in the experiments
 * module measures this.) The consumer pays one fence per call that took a bit (one for a whole
 * snapshot), beside an RMW per word it takes from.
 *
 * <p>Multi-word operations are atomic per word, not as a whole: {@link #testAndClearRange} may
 * take a bit a writer set after the one it missed in an earlier word. Each bit is still taken
 * exactly once, which is all a consumer needs.
 */
public final class DirtyBitmap {

    private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);
    private static final int WORD_SHIFT = 6;
    private static final int WORD_BITS = 1 << WORD_SHIFT;

    /**
     * The bits. Writers (any thread) set bits with an opaque read and a volatile
     * getAndBitwiseOr, or a release store of a whole word, and fence before a read that lets them
     * skip; the consumer takes them with volatile getAndSet / getAndBitwiseAnd followed by a full
     * fence. No plain access after construction.
     */
    private final long[] words;
    private final long pages;

    /** A bitmap of {@code pages} clear bits. Context: any thread. */
    public DirtyBitmap(long pages) {
        if (pages <= 0) {
            throw new IllegalArgumentException("a dirty bitmap needs at least one page, got " + pages);
        }
        long nwords = (pages + WORD_BITS - 1) >>> WORD_SHIFT;
        if (nwords > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(pages + " pages is too many for one bitmap");
        }
        this.pages = pages;
        this.words = new long[(int) nwords];
    }

    /** How many pages (bits) this bitmap covers. */
    public long pages() {
        return pages;
    }

    /** How many {@code long} words a snapshot of {@code count} pages needs. */
    public static int snapshotWords(long count) {
        return (int) ((count + WORD_BITS - 1) >>> WORD_SHIFT);
    }

    // ---------------------------------------------------------------------------------------
    // Writers

    /**
     * Marks {@code page} dirty ({@code cpu_physical_memory_set_dirty_flag}). Call it after
     * storing the page's new data. Context: any thread.
     */
    public void setDirty(long page) {
        checkPage(page);
        setBits((int) (page >>> WORD_SHIFT), 1L << page, false);
    }

    /**
     * Marks pages {@code [start, start + count)} dirty, a word at a time ({@code
     * bitmap_set_atomic}), with the fast paths of {@link #setDirty} and at most one fence for the
     * whole range. Call it after storing the pages' new data. Context: any thread.
     */
    public void setDirtyRange(long start, long count) {
        checkRange(start, count);
        if (count != 0) {
            setRange(start, count, false);
        }
    }

    /**
     * {@link #setDirtyRange} without bounds checks, for a caller marking several bitmaps for one
     * write (a RAM region with several active clients): {@code fenced} says whether a full fence
     * was issued since the caller's data stores; the result says whether one has been by now, to
     * pass to the next bitmap.
     */
    boolean setRange(long start, long count, boolean fenced) {
        long end = start + count; // exclusive
        int first = (int) (start >>> WORD_SHIFT);
        int last = (int) ((end - 1) >>> WORD_SHIFT);
        if (first == last) {
            return setBits(first, firstWordMask(start) & lastWordMask(end), fenced);
        }
        fenced = setBits(first, firstWordMask(start), fenced);
        for (int i = first + 1; i < last; i++) {
            if ((long) WORDS.getOpaque(words, i) != -1L) {
                WORDS.setRelease(words, i, -1L); // every bit of the word is ours to set: no RMW needed
            } else if (!fenced) {
                VarHandle.fullFence(); // about to skip: see setBits (pairs with the consumer's fence after its take)
                fenced = true;
                if ((long) WORDS.getOpaque(words, i) != -1L) {
                    WORDS.setRelease(words, i, -1L);
                }
            }
        }
        return setBits(last, lastWordMask(end), fenced);
    }

    /** Sets {@code mask} in word {@code i}; returns whether a full fence has been issued. */
    private boolean setBits(int i, long mask, boolean fenced) {
        if (((long) WORDS.getOpaque(words, i) & mask) != mask) {
            WORDS.getAndBitwiseOr(words, i, mask); // volatile: releases the caller's data stores
            return fenced;
        }
        if (!fenced) {
            // About to skip: the read that decides must come after the caller's data stores
            // (StoreLoad); pairs with the fence after the consumer's take in testAndClear and
            // testAndClearRange. See the class comment.
            VarHandle.fullFence();
            fenced = true;
            if (((long) WORDS.getOpaque(words, i) & mask) != mask) {
                WORDS.getAndBitwiseOr(words, i, mask);
            }
        }
        return fenced;
    }

    // ---------------------------------------------------------------------------------------
    // Consumer

    /**
     * Whether {@code page} is dirty, with a volatile read. Context: any thread; meaningful to
     * the consumer (a writer's bit may appear any time).
     */
    public boolean getDirty(long page) {
        checkPage(page);
        return ((long) WORDS.getVolatile(words, (int) (page >>> WORD_SHIFT)) & (1L << page)) != 0;
    }

    /**
     * Clears {@code page}'s bit and returns whether it was set ({@code
     * cpu_physical_memory_test_and_clear_dirty} for one page). When it returns true, the data
     * written before the bit was set is visible to the caller's reads that follow. Context: any
     * thread.
     */
    public boolean testAndClear(long page) {
        checkPage(page);
        int i = (int) (page >>> WORD_SHIFT);
        long mask = 1L << page;
        if (((long) WORDS.getAcquire(words, i) & mask) == 0) {
            return false;
        }
        if (((long) WORDS.getAndBitwiseAnd(words, i, ~mask) & mask) == 0) {
            return false; // another consumer took it: no page data to order
        }
        // The caller reads the page next, with plain loads: they must not be performed before
        // the RMW's store (smp_mb__after_rmw). Pairs with the fence in setBits. See the class comment.
        VarHandle.fullFence();
        return true;
    }

    /**
     * Takes the bits of pages {@code [start, start + count)} into {@code snapshot} and clears
     * them: bit {@code j} of the snapshot (word {@code j >> 6}, bit {@code j & 63}) is page {@code
     * start + j}. Each bitmap word is taken with one {@code getAndSet(0)} (or {@code
     * getAndBitwiseAnd} at the range's partial ends), so every set bit lands in exactly one
     * snapshot; words that read zero are not written. If any bit was taken, one full fence
     * follows the last take, so that the caller's reads of the pages come after every take. The
     * snapshot's first {@link #snapshotWords(long) snapshotWords(count)} words are overwritten;
     * nothing is allocated. Context: any thread (one consumer per bit range at a time, so that
     * it sees what it took).
     *
     * @return how many pages were dirty
     */
    public long testAndClearRange(long start, long count, long[] snapshot) {
        checkRange(start, count);
        int outWords = snapshotWords(count);
        if (snapshot.length < outWords) {
            throw new IllegalArgumentException("snapshot of " + snapshot.length + " words cannot hold "
                    + count + " pages (needs " + outWords + ")");
        }
        for (int k = 0; k < outWords; k++) {
            snapshot[k] = 0;
        }
        if (count == 0) {
            return 0;
        }
        long end = start + count;
        int first = (int) (start >>> WORD_SHIFT);
        int last = (int) ((end - 1) >>> WORD_SHIFT);
        int shift = (int) (start & (WORD_BITS - 1)); // page start sits at this bit of word `first`
        long dirty = 0;
        for (int i = first; i <= last; i++) {
            long mask = -1L;
            if (i == first) {
                mask &= firstWordMask(start);
            }
            if (i == last) {
                mask &= lastWordMask(end);
            }
            long bits = takeBits(i, mask);
            if (bits == 0) {
                continue;
            }
            dirty += Long.bitCount(bits);
            // Bitmap bit b of word i is page 64*i + b, i.e. snapshot bit 64*(i-first) + b - shift.
            int k = i - first;
            if (shift == 0) {
                snapshot[k] |= bits;
            } else {
                if (k > 0) {
                    snapshot[k - 1] |= bits << (WORD_BITS - shift);
                }
                if (k < outWords) {
                    snapshot[k] |= bits >>> shift;
                }
            }
        }
        if (dirty != 0) {
            // One fence after all the takes, before the caller's plain page reads
            // (smp_mb__after_rmw); pairs with the fence in setBits and setRange. See the class comment.
            VarHandle.fullFence();
        }
        return dirty;
    }

    private long takeBits(int i, long mask) {
        long seen = (long) WORDS.getOpaque(words, i);
        if ((seen & mask) == 0) {
            return 0; // nothing to take: no write, and no data to order
        }
        long old = mask == -1L
                ? (long) WORDS.getAndSet(words, i, 0L)
                : (long) WORDS.getAndBitwiseAnd(words, i, ~mask);
        return old & mask;
    }

    /**
     * How many pages are dirty. Exact when no thread changes the bitmap meanwhile. Context: any
     * thread.
     */
    public long count() {
        long n = 0;
        for (int i = 0; i < words.length; i++) {
            n += Long.bitCount((long) WORDS.getOpaque(words, i));
        }
        return n;
    }

    /**
     * Clears every bit. Meant for a client starting its log, when no writer sets bits in this
     * bitmap; a bit set concurrently may survive or not. Context: the main loop.
     */
    public void clearAll() {
        for (int i = 0; i < words.length; i++) {
            WORDS.setRelease(words, i, 0L);
        }
    }

    // ---------------------------------------------------------------------------------------

    private static long firstWordMask(long start) {
        return -1L << start; // shifts use the low 6 bits: bits from start & 63 up
    }

    private static long lastWordMask(long endExclusive) {
        return -1L >>> -endExclusive; // bits below endExclusive & 63, or all of them when 0
    }

    private void checkPage(long page) {
        if (page < 0 || page >= pages) {
            throw new IndexOutOfBoundsException("page " + page + " outside a bitmap of " + pages + " pages");
        }
    }

    private void checkRange(long start, long count) {
        if (start < 0 || count < 0 || start > pages - count) {
            throw new IndexOutOfBoundsException("pages [" + start + ", " + start + "+" + count
                    + ") outside a bitmap of " + pages + " pages");
        }
    }

    @Override
    public String toString() {
        return "DirtyBitmap[" + pages + " pages]";
    }
}
