package org.mqblock.core.loop;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import org.mqblock.core.ring.MpscLinkedQueue;

/**
 * A deferred callback that runs in its {@link AioContext}'s thread as soon as possible after it is
 * scheduled (QEMU's {@code QEMUBH}, {@code aio_bh_new} / {@code qemu_bh_schedule}).
 *
 * <p>Scheduling is wait-free and may be done from any thread. Scheduling a bottom half that is
 * already pending does nothing more: it runs once. A bottom half is reusable: once it has run it
 * may be scheduled again, which makes a preallocated bottom half the allocation-free way to hand
 * work to a context (a one-shot {@link AioContext#schedule(Runnable)} allocates one per call).
 *
 * <p>State lives in one flags word updated with atomic read-modify-writes, as in QEMU:
 * {@code PENDING} (in the context's queue), {@code SCHEDULED} (should run when dequeued),
 * {@code DELETED}, {@code ONESHOT}. Cancel clears {@code SCHEDULED} and leaves the node queued, so
 * the loop drops it when it reaches it.
 */
public final class BottomHalf extends MpscLinkedQueue.Node {

    static final int PENDING = 1;
    static final int SCHEDULED = 2;
    static final int DELETED = 4;
    static final int ONESHOT = 8;

    private static final VarHandle FLAGS;

    static {
        try {
            FLAGS = MethodHandles.lookup().findVarHandle(BottomHalf.class, "flags", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final AioContext ctx;
    final Runnable callback;
    private final String name;

    /** Any thread, atomic read-modify-write only (volatile semantics). */
    @SuppressWarnings("unused")
    private volatile int flags;

    /** Home thread only, plain: link in the context's private list of dequeued bottom halves. */
    BottomHalf sliceNext;

    BottomHalf(AioContext ctx, String name, Runnable callback, int initialFlags) {
        this.ctx = ctx;
        this.name = name;
        this.callback = callback;
        this.flags = initialFlags;
    }

    /**
     * Makes the bottom half run once in its context's thread. Context: any thread. Wait-free.
     *
     * @throws IllegalStateException if the bottom half was deleted
     */
    public void schedule() {
        if ((flags & DELETED) != 0) {
            throw new IllegalStateException("bottom half '" + name + "' was deleted");
        }
        ctx.enqueue(this, SCHEDULED);
    }

    /**
     * Undoes pending {@link #schedule()} calls. Context: any thread; it races with the loop unless
     * called from the context's own thread (then it is exact).
     */
    public void cancel() {
        FLAGS.getAndBitwiseAnd(this, ~SCHEDULED);
    }

    /**
     * Cancels the bottom half for good; it may not be scheduled again. Context: any thread. A
     * context refuses to close while a bottom half that was not deleted exists.
     */
    public void delete() {
        int old = (int) FLAGS.getAndBitwiseOr(this, DELETED);
        if ((old & DELETED) == 0) {
            ctx.forget(this);
        }
    }

    /** Whether the bottom half is scheduled and has not run yet. Context: any thread. */
    public boolean isScheduled() {
        return (flags & (SCHEDULED | DELETED)) == SCHEDULED;
    }

    /** The name given at creation; a one-shot is named after its callback's class. */
    public String name() {
        return name != null ? name : "oneshot " + callback.getClass().getName();
    }

    /** Sets {@code PENDING | extra}; returns the flags before. */
    int markPending(int extra) {
        return (int) FLAGS.getAndBitwiseOr(this, PENDING | extra);
    }

    /** Clears {@code PENDING | SCHEDULED} as the loop takes the node; returns the flags before. */
    int takeFlags() {
        return (int) FLAGS.getAndBitwiseAnd(this, ~(PENDING | SCHEDULED));
    }

    int flags() {
        return flags;
    }

    @Override
    public String toString() {
        return "BottomHalf[" + name() + " in " + ctx.name() + "]";
    }
}
