package org.mqblock.core.loop;

import java.util.Arrays;

/**
 * Batching of expensive calls across a region ({@code defer_call_begin}, {@code defer_call_end},
 * {@code defer_call} in QEMU's util/defer-call.c): inside a region, {@link #defer(Runnable)}
 * records the call, and the same {@code Runnable} instance deferred again is recorded once; the
 * outermost {@link #end()} runs each recorded call once, in the order first deferred. Outside a
 * region, {@link #defer} runs the call at once. The canonical use: completing a batch of requests
 * raises the guest interrupt once instead of once per request.
 *
 * <p>Pass the same instance each time (a field, not a fresh lambda or method reference) or nothing
 * coalesces. State is per thread. A region opened while deferred calls run (by one of them) joins
 * that flush: its calls run after the current one returns.
 */
public final class DeferCall {

    private static final ThreadLocal<DeferCall> STATE = ThreadLocal.withInitial(DeferCall::new);

    // Per thread, plain.
    private int nesting;
    private boolean flushing;
    private Runnable[] calls = new Runnable[8];
    private int count;
    /** While flushing: index of the call running now; calls before it have run. */
    private int next;

    private DeferCall() {}

    /** Opens a region; regions nest. Context: any thread. */
    public static void begin() {
        STATE.get().nesting++;
    }

    /**
     * Closes a region; the outermost close runs the deferred calls. If some throw, the others
     * still run and the first exception is rethrown after. Context: the thread that called
     * {@link #begin()}.
     */
    public static void end() {
        DeferCall s = STATE.get();
        if (s.nesting <= 0) {
            throw new IllegalStateException("DeferCall.end() without begin()");
        }
        if (--s.nesting > 0 || s.flushing) {
            return;
        }
        s.flush();
    }

    /** Runs {@code call} now, or at the end of the current region, once per region. */
    public static void defer(Runnable call) {
        DeferCall s = STATE.get();
        if (s.nesting == 0) {
            call.run();
            return;
        }
        for (int i = s.next; i < s.count; i++) {
            if (s.calls[i] == call) {
                return;
            }
        }
        if (s.count == s.calls.length) {
            s.calls = Arrays.copyOf(s.calls, s.count * 2);
        }
        s.calls[s.count++] = call;
    }

    /** Whether the calling thread is inside a region. */
    public static boolean inRegion() {
        return STATE.get().nesting > 0;
    }

    private void flush() {
        flushing = true;
        RuntimeException first = null;
        try {
            for (next = 0; next < count; next++) {
                Runnable call = calls[next];
                calls[next] = null;
                try {
                    call.run();
                } catch (RuntimeException e) {
                    if (first == null) {
                        first = e;
                    } else {
                        first.addSuppressed(e);
                    }
                }
            }
        } finally {
            Arrays.fill(calls, 0, count, null);
            count = 0;
            next = 0;
            flushing = false;
        }
        if (first != null) {
            throw first;
        }
    }
}
