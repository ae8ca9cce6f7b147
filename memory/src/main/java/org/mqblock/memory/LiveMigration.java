package org.mqblock.memory;

import static org.mqblock.memory.TargetPage.TARGET_PAGE_BITS;
import static org.mqblock.memory.TargetPage.TARGET_PAGE_SIZE;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Pre-copy live migration of guest RAM from one {@link AddressSpace} to another with the same RAM
 * layout, while the guest keeps writing (QEMU's migration/ram.c, with the wire replaced by a
 * copy into the destination's RAM).
 *
 * <h2>Rounds</h2>
 * <ol>
 *   <li>Setup: start the {@link DirtyClient#MIGRATION} log of every source RAM region, then wait
 *       for a {@link WriteGate#synchronize() grace period} so that no write that read the log as
 *       inactive is still landing. The migration's own bitmap of pages to send ({@code
 *       RAMBlock->bmap}) starts with every bit set: the first round sends everything.
 *   <li>Each round: sync ({@code migration_bitmap_sync}): take the MIGRATION bitmap into a
 *       snapshot with {@link DirtyBitmap#testAndClearRange} and OR it into the pages to send. If
 *       what remains fits the downtime budget, go to stop-and-copy; if the round limit is reached,
 *       go there anyway (not converged). Otherwise send up to {@code bytesPerRound} of pending
 *       pages, continuing where the previous round stopped, and record the round's statistics.
 *   <li>Stop-and-copy: {@link WriteGate#pause()} the source's writers (waiting for writes under
 *       way and writable mappings), sync, send every pending page, compare destination and source
 *       RAM byte for byte, stop the log, resume the writers.
 * </ol>
 *
 * <h2>Why the destination ends equal to the source</h2>
 * A page is copied only after its bit has been taken, and {@link DirtyBitmap} guarantees that the
 * copy sees at least the data of every write whose bit was taken. A write that lands after the bit
 * was taken (including one that lands between the take and the copy, or during the copy, so that
 * the copy is torn) sets the bit again, and the page is sent again after a later sync. The final
 * sync runs with every writer stopped, so after it the pending pages are exactly those that may
 * differ, and sending them leaves none. The byte-for-byte comparison checks this, within the
 * pause, on every run.
 *
 * <h2>Budgets</h2>
 * The bandwidth budget is bytes per round, not per second, so that a run is deterministic for a
 * given write pattern (rounds' durations and the bytes/s they imply are in the statistics). The
 * downtime budget is the bytes the stop-and-copy may send: QEMU's {@code bandwidth *
 * downtime_limit}, expressed directly.
 *
 * <p>Not thread-safe: run it once, from the main loop. The source's RAM layout must not change
 * while it runs. MMIO regions are not migrated (device state is not guest memory).
 */
public final class LiveMigration {

    /**
     * @param bytesPerRound the most each pre-copy round sends (rounded down to pages, at least one)
     * @param maxRounds pre-copy rounds before stop-and-copy even if not converged (0: stop at once)
     * @param downtimeBytes converge when the pages left to send fit in this many bytes
     * @param pauseTimeout how long stop-and-copy waits for writers to leave the gate
     */
    public record Params(long bytesPerRound, int maxRounds, long downtimeBytes, Duration pauseTimeout) {
        public Params {
            if (bytesPerRound <= 0) {
                throw new IllegalArgumentException("bytesPerRound must be positive, got " + bytesPerRound);
            }
            if (maxRounds < 0) {
                throw new IllegalArgumentException("maxRounds must be >= 0, got " + maxRounds);
            }
            if (downtimeBytes < 0) {
                throw new IllegalArgumentException("downtimeBytes must be >= 0, got " + downtimeBytes);
            }
            Objects.requireNonNull(pauseTimeout, "pauseTimeout");
        }

        public Params(long bytesPerRound, int maxRounds, long downtimeBytes) {
            this(bytesPerRound, maxRounds, downtimeBytes, Duration.ofSeconds(30));
        }

        long pagesPerRound() {
            return Math.max(1, bytesPerRound >>> TARGET_PAGE_BITS);
        }
    }

    /**
     * One round.
     *
     * @param pagesDirtied pages the sync at the round's start found dirtied since the previous one
     * @param pagesRemaining pages still to send when the round ended (before the next sync)
     */
    public record RoundStats(int round, long pagesDirtied, long pagesSent, long bytesSent, long pagesRemaining,
                             long durationNanos) {}

    /**
     * The outcome.
     *
     * @param rounds the pre-copy rounds, in order
     * @param converged whether pre-copy reached the downtime budget (rather than the round limit)
     * @param stopAndCopy the final round, sent with writers paused
     * @param downtimeNanos from pausing the writers to resuming them (includes verification)
     * @param mismatch null if the destination equals the source; otherwise where they differ
     */
    public record Result(List<RoundStats> rounds, boolean converged, RoundStats stopAndCopy, long downtimeNanos,
                         long pagesTotal, long totalPagesSent, long totalBytesSent, String mismatch) {
        public boolean verified() {
            return mismatch == null;
        }
    }

    /**
     * Progress callbacks, all called in the migrating thread. The page callbacks let a test (or a
     * tracer) act exactly between taking a page's bit and copying the page.
     */
    public interface Listener {
        /** After each pre-copy round. */
        default void roundCompleted(RoundStats stats) {}

        /** A pending page whose bit was taken is about to be copied. */
        default void beforeCopy(int round, RamRegion source, long page) {}

        /** A page was copied. */
        default void afterCopy(int round, RamRegion source, long page) {}

        /**
         * Stop-and-copy is done and verified; the source's writers are still paused, so source and
         * destination can be inspected. {@code downtimeNanos} is the downtime so far.
         */
        default void stopped(Result result) {}
    }

    private static final Listener NO_LISTENER = new Listener() {};

    /** A source RAM region, its destination, and the migration's private bitmaps of it. */
    private static final class Pair {
        final long base;
        final RamRegion src;
        final RamRegion dst;
        final long pages;
        /** Pages to send ({@code RAMBlock->bmap}); plain, migrating thread only. */
        final long[] pending;
        /** Reused sync snapshot; plain, migrating thread only. */
        final long[] snapshot;

        Pair(long base, RamRegion src, RamRegion dst) {
            this.base = base;
            this.src = src;
            this.dst = dst;
            this.pages = src.pages();
            this.pending = new long[DirtyBitmap.snapshotWords(pages)];
            this.snapshot = new long[pending.length];
        }
    }

    private final AddressSpace source;
    private final AddressSpace destination;
    private final Params params;
    private final List<Pair> pairs = new ArrayList<>();
    private final long pagesTotal;

    // Send cursor (migrating thread only): where the previous round stopped.
    private int cursorPair;
    private int cursorWord;
    private boolean ran;

    /**
     * Prepares a migration between two address spaces with the same RAM layout (bases and
     * sizes; MMIO is ignored). Context: the main loop.
     *
     * @throws IllegalArgumentException naming the first difference if the RAM layouts differ
     */
    public LiveMigration(AddressSpace source, AddressSpace destination, Params params) {
        this.source = Objects.requireNonNull(source, "source");
        this.destination = Objects.requireNonNull(destination, "destination");
        this.params = Objects.requireNonNull(params, "params");
        List<AddressSpace.Mapping> s = ramMappings(source);
        List<AddressSpace.Mapping> d = ramMappings(destination);
        if (s.isEmpty()) {
            throw new IllegalArgumentException("source '" + source.name() + "' has no RAM to migrate");
        }
        for (int i = 0; i < Math.max(s.size(), d.size()); i++) {
            AddressSpace.Mapping a = i < s.size() ? s.get(i) : null;
            AddressSpace.Mapping b = i < d.size() ? d.get(i) : null;
            if (a == null || b == null || a.base() != b.base() || a.region().size() != b.region().size()) {
                throw new IllegalArgumentException("RAM layouts differ: source '" + source.name() + "' has "
                        + describe(a) + " where destination '" + destination.name() + "' has " + describe(b));
            }
            if (a.region() == b.region()) {
                throw new IllegalArgumentException("RAM region '" + a.region().name() + "' is both source and destination");
            }
            pairs.add(new Pair(a.base(), (RamRegion) a.region(), (RamRegion) b.region()));
        }
        long n = 0;
        for (Pair p : pairs) {
            n += p.pages;
        }
        this.pagesTotal = n;
    }

    private static List<AddressSpace.Mapping> ramMappings(AddressSpace as) {
        List<AddressSpace.Mapping> out = new ArrayList<>();
        for (AddressSpace.Mapping m : as.mappings()) {
            if (m.region() instanceof RamRegion) {
                out.add(m);
            }
        }
        return out;
    }

    private static String describe(AddressSpace.Mapping m) {
        return m == null ? "nothing" : "RAM '" + m.region().name() + "' " + Hex.range(m.base(), m.end());
    }

    /** {@link #run(Listener)} without callbacks. Context: the main loop. */
    public Result run() {
        return run(NO_LISTENER);
    }

    /**
     * Migrates. Returns when the destination holds the source's RAM as of the stop-and-copy (see
     * {@link Result#verified()}); the source's writers are running again. Context: the main loop,
     * not inside the source's write gate; once.
     */
    public Result run(Listener listener) {
        Objects.requireNonNull(listener, "listener");
        if (ran) {
            throw new IllegalStateException("a LiveMigration runs once");
        }
        ran = true;
        WriteGate gate = source.writeGate();
        int started = 0;
        try {
            for (Pair p : pairs) {
                p.src.startDirtyLog(DirtyClient.MIGRATION);
                started++;
            }
            gate.synchronize(); // writes that missed the log have landed; round 0 sends them
            for (Pair p : pairs) {
                setAll(p.pending, p.pages);
            }

            List<RoundStats> rounds = new ArrayList<>();
            long totalSent = 0;
            int round = 0;
            boolean converged;
            long dirtiedBeforeStop;
            while (true) {
                long t0 = System.nanoTime();
                long dirtied = sync();
                long remaining = pendingCount();
                if (remaining <= (params.downtimeBytes() >>> TARGET_PAGE_BITS)) {
                    converged = true;
                    dirtiedBeforeStop = dirtied;
                    break;
                }
                if (round == params.maxRounds()) {
                    converged = false;
                    dirtiedBeforeStop = dirtied;
                    break;
                }
                long sent = send(params.pagesPerRound(), round, listener);
                totalSent += sent;
                RoundStats stats = new RoundStats(round, dirtied, sent, sent << TARGET_PAGE_BITS, pendingCount(),
                        System.nanoTime() - t0);
                rounds.add(stats);
                listener.roundCompleted(stats);
                round++;
            }

            long pauseStart = System.nanoTime();
            gate.pause(params.pauseTimeout());
            RoundStats last;
            String mismatch;
            try {
                long dirtied = dirtiedBeforeStop + sync();
                long sent = send(Long.MAX_VALUE, round, listener);
                totalSent += sent;
                last = new RoundStats(round, dirtied, sent, sent << TARGET_PAGE_BITS, pendingCount(),
                        System.nanoTime() - pauseStart);
                mismatch = verify();
                listener.stopped(new Result(List.copyOf(rounds), converged, last, System.nanoTime() - pauseStart,
                        pagesTotal, totalSent, totalSent << TARGET_PAGE_BITS, mismatch));
            } finally {
                stopLogs(started);
                started = 0;
                gate.resume();
            }
            return new Result(List.copyOf(rounds), converged, last, System.nanoTime() - pauseStart, pagesTotal,
                    totalSent, totalSent << TARGET_PAGE_BITS, mismatch);
        } finally {
            stopLogs(started);
        }
    }

    private void stopLogs(int started) {
        for (int i = 0; i < started; i++) {
            pairs.get(i).src.stopDirtyLog(DirtyClient.MIGRATION);
        }
    }

    private static void setAll(long[] bits, long pages) {
        for (int k = 0; k < bits.length; k++) {
            long left = pages - ((long) k << 6);
            bits[k] = left >= 64 ? -1L : (1L << left) - 1;
        }
    }

    /** Takes the MIGRATION bitmaps into the pending bitmaps; returns the pages found dirty. */
    private long sync() {
        long dirtied = 0;
        for (Pair p : pairs) {
            long n = p.src.dirtyBitmap(DirtyClient.MIGRATION).testAndClearRange(0, p.pages, p.snapshot);
            if (n != 0) {
                for (int k = 0; k < p.pending.length; k++) {
                    p.pending[k] |= p.snapshot[k];
                }
            }
            dirtied += n;
        }
        return dirtied;
    }

    private long pendingCount() {
        long n = 0;
        for (Pair p : pairs) {
            for (long w : p.pending) {
                n += Long.bitCount(w);
            }
        }
        return n;
    }

    /**
     * Sends up to {@code budget} pending pages, scanning from the cursor once around all regions;
     * leaves the cursor where it stopped.
     */
    private long send(long budget, int round, Listener listener) {
        long sent = 0;
        int wordsTotal = 0;
        for (Pair p : pairs) {
            wordsTotal += p.pending.length;
        }
        int pi = cursorPair;
        int k = cursorWord;
        for (int scanned = 0; scanned <= wordsTotal && sent < budget; ) {
            Pair p = pairs.get(pi);
            if (k >= p.pending.length) {
                pi = (pi + 1) % pairs.size();
                k = 0;
                continue;
            }
            long w = p.pending[k];
            while (w != 0 && sent < budget) {
                int bit = Long.numberOfTrailingZeros(w);
                w &= w - 1;
                p.pending[k] = w;
                long page = ((long) k << 6) + bit;
                listener.beforeCopy(round, p.src, page);
                long off = page << TARGET_PAGE_BITS;
                p.src.copyTo(off, p.dst, off, TARGET_PAGE_SIZE);
                listener.afterCopy(round, p.src, page);
                sent++;
            }
            if (w == 0) {
                k++;
                scanned++;
            }
        }
        cursorPair = pi;
        cursorWord = k;
        return sent;
    }

    private String verify() {
        for (Pair p : pairs) {
            long at = p.src.mismatch(p.dst);
            if (at >= 0) {
                return "destination '" + p.dst.name() + "' differs from source '" + p.src.name() + "' at guest address "
                        + Hex.of(p.base + at) + " (page " + (at >>> TARGET_PAGE_BITS) + "): source byte "
                        + Hex.of(p.src.getU8(at)) + ", destination byte " + Hex.of(p.dst.getU8(at));
            }
        }
        return null;
    }

    public long pagesTotal() {
        return pagesTotal;
    }
}
