package org.mqblock.nativeio;

/**
 * prctl(2) for the calling thread. Only the timer slack for now: how late the kernel may fire the
 * thread's timers (poll and epoll timeouts, nanosleep) to batch wakeups; 50 µs by default. An
 * IOThread whose timers are due in microseconds wants 1 ns, as QEMU sets it for its IOThreads.
 */
public final class Prctl {

    private static final int PR_SET_TIMERSLACK = 29;
    private static final int PR_GET_TIMERSLACK = 30;

    private Prctl() {}

    /**
     * Sets the calling thread's timer slack to {@code ns} ({@code PR_SET_TIMERSLACK}); 0 restores
     * the thread's default. Context: the thread whose slack it sets.
     *
     * @return whether the kernel took it (false for a negative value or where prctl fails)
     */
    public static boolean setTimerSlackNs(long ns) {
        if (ns < 0) {
            return false;
        }
        return Libc.prctl(Libc.scratch().state, PR_SET_TIMERSLACK, ns) == 0;
    }

    /**
     * The calling thread's timer slack in nanoseconds ({@code PR_GET_TIMERSLACK}), or -1 if prctl
     * fails. Context: the thread whose slack it reads.
     */
    public static long timerSlackNs() {
        return Libc.prctl(Libc.scratch().state, PR_GET_TIMERSLACK, 0L);
    }
}
