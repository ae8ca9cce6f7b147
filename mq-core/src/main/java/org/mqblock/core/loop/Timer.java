package org.mqblock.core.loop;

/**
 * A one-shot timer on its context's nanosecond clock ({@code aio_timer_new}): when armed, its
 * callback runs in the context's thread once the clock reaches the deadline. Re-arming moves the
 * deadline; arming from the callback makes a periodic timer. Timers due at the same instant run in
 * the order they were armed.
 *
 * <p>Context for every method: a thread holding the context (its handlers, or a thread that called
 * {@link AioContext#acquire()}). Not threadsafe otherwise.
 */
public final class Timer {

    final AioContext ctx;
    final Runnable callback;
    private final String name;

    // All fields below: written and read only by the thread holding the context, plain.
    long deadline;
    /** Tie-breaker for equal deadlines: arm order. */
    long armSeq;
    /** Index in the context's heap, or -1 when not armed. */
    int heapIndex = -1;
    /** The timer pass that last ran this timer; stops a callback that re-arms "now" looping. */
    long lastPass = -1;

    Timer(AioContext ctx, String name, Runnable callback) {
        this.ctx = ctx;
        this.name = name;
        this.callback = callback;
    }

    /** Arms (or re-arms) the timer for the absolute deadline {@code deadlineNs} on the context's clock. */
    public void armAt(long deadlineNs) {
        ctx.timers().arm(this, deadlineNs);
    }

    /** Arms (or re-arms) the timer {@code delayNs} from now on the context's clock. */
    public void armAfter(long delayNs) {
        armAt(ctx.clock().nanoTime() + Math.max(0, delayNs));
    }

    /** Disarms the timer; harmless when it is not armed. */
    public void cancel() {
        ctx.timers().cancel(this);
    }

    public boolean isArmed() {
        return heapIndex >= 0;
    }

    /** The deadline of the last arm, on the context's clock. */
    public long deadline() {
        return deadline;
    }

    public String name() {
        return name;
    }

    @Override
    public String toString() {
        return "Timer[" + name + (isArmed() ? " at " + deadline : " disarmed") + "]";
    }
}
