package org.mqblock.core.loop;

/**
 * Adaptive busy-polling window, with the semantics of QEMU's {@code poll_max_ns},
 * {@code poll_grow} and {@code poll_shrink} (aio-posix.c, {@code adjust_polling_time}).
 *
 * <p>After each blocking poll the loop reports how long it took from entering the poll to finding
 * an event ({@code blockNs}, polling included):
 * <ul>
 *   <li>{@code blockNs <= window}: the event came while polling; the window is right.
 *   <li>{@code blockNs > maxNs}: a miss; polling that long would have been wasted, so the window
 *       shrinks (divided by {@code shrink}, or reset to 0 when {@code shrink} is 0).
 *   <li>otherwise the event came soon after the loop blocked: a hit we could have caught by
 *       polling, so the window grows (0 becomes 4 us, else multiplied by {@code grow}, 2 when 0),
 *       capped at {@code maxNs}.
 * </ul>
 * {@code maxNs == 0} disables polling. QEMU's IOThreads default to a 32768 ns maximum.
 *
 * <p>Parameters are set from any thread (volatile); the window itself belongs to the loop.
 */
public final class PollWindow {

    public static final long DEFAULT_MAX_NS = 32_768;
    static final long INITIAL_NS = 4_000;

    private volatile long maxNs;
    private volatile long grow;
    private volatile long shrink;

    /**
     * Home thread writes (volatile, and only when it changes, so a steady window costs no store
     * fence); any thread reads it.
     */
    private volatile long ns;

    public PollWindow(long maxNs, long grow, long shrink) {
        set(maxNs, grow, shrink);
    }

    /**
     * Changes the parameters ({@code aio_context_set_poll_params}). Context: any thread.
     *
     * @throws IllegalArgumentException naming the parameter that is negative
     */
    public void set(long maxNs, long grow, long shrink) {
        if (maxNs < 0) {
            throw new IllegalArgumentException("poll-max-ns must be >= 0, got " + maxNs);
        }
        if (grow < 0) {
            throw new IllegalArgumentException("poll-grow must be >= 0, got " + grow);
        }
        if (shrink < 0) {
            throw new IllegalArgumentException("poll-shrink must be >= 0, got " + shrink);
        }
        this.grow = grow;
        this.shrink = shrink;
        this.maxNs = maxNs;
    }

    /** Applies one observation. Context: the home thread. */
    void adjust(long blockNs) {
        long max = maxNs;
        long old = ns;
        long cur = Math.min(old, max); // the maximum may have been lowered since
        if (max == 0 || blockNs <= cur) {
            // disabled, or the sweet spot: keep the window
        } else if (blockNs > max) {
            long s = shrink;
            cur = s == 0 ? 0 : cur / s;
        } else if (cur < max && blockNs < max) {
            long g = grow == 0 ? 2 : grow;
            cur = cur == 0 ? INITIAL_NS : cur * g;
            cur = Math.min(cur, max);
        }
        if (cur != old) {
            ns = cur;
        }
    }

    /** The current polling window in nanoseconds. */
    public long ns() {
        return ns;
    }

    public long maxNs() {
        return maxNs;
    }

    public long grow() {
        return grow;
    }

    public long shrink() {
        return shrink;
    }
}
