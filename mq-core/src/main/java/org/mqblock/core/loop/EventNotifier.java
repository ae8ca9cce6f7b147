package org.mqblock.core.loop;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The Java eventfd: a flag that any thread sets and the context that watches it tests and clears
 * before running its handler ({@code EventNotifier} + {@code aio_set_event_notifier}). Setting an
 * already set notifier does nothing more, so a burst of {@link #set()} calls costs one wakeup.
 *
 * <p>A notifier is watched by at most one context at a time ({@link AioContext#setEventNotifier});
 * it can be moved to another by removing it from the first. A notifier set while no context
 * watches it stays set and fires once one does.
 */
public final class EventNotifier {

    private static final VarHandle SIGNALED;

    static {
        try {
            SIGNALED = MethodHandles.lookup().findVarHandle(EventNotifier.class, "signaled", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final String name;

    /** Set by any thread (getAndSet), cleared by the watching context's thread (getAndSet). */
    @SuppressWarnings("unused")
    private volatile boolean signaled;

    // Registration: written by the thread holding the watching context; `ctx` is volatile because
    // set() reads it from any thread to know whom to wake. The others are read only by the context.
    private volatile AioContext ctx;
    Runnable handler;
    PollHandler pollHandler;
    boolean external;

    public EventNotifier(String name) {
        this.name = name;
    }

    /**
     * Signals the notifier and wakes its context if it sleeps. Context: any thread.
     *
     * <p>Whatever the caller wrote before, even with plain or release stores (an SPSC ring's
     * offer), is visible to the handler that runs after the flag is cleared. The fence makes that
     * so on the fast path: without it the load that finds the flag still set could pass the
     * caller's store, the loop could clear the flag and miss the data, and nobody would wake it
     * (a lost wakeup seen under load, pinned by a test). The signal itself is published before the
     * context is notified (getAndSet, then {@link AioContext#aioNotify()}).
     */
    public void set() {
        VarHandle.fullFence(); // the caller's stores before the load of `signaled` (pairs with testAndClear's getAndSet)
        if (!signaled && !(boolean) SIGNALED.getAndSet(this, true)) {
            AioContext c = ctx;
            if (c != null) {
                c.aioNotify();
            }
        }
    }

    /** Clears the flag, returning whether it was set. Context: the watching context's thread. */
    public boolean testAndClear() {
        return signaled && (boolean) SIGNALED.getAndSet(this, false);
    }

    /** Whether the notifier is set. Context: any thread. */
    public boolean isSet() {
        return signaled;
    }

    public String name() {
        return name;
    }

    AioContext context() {
        return ctx;
    }

    void register(AioContext ctx, boolean external, Runnable handler, PollHandler pollHandler) {
        this.external = external;
        this.handler = handler;
        this.pollHandler = pollHandler;
        this.ctx = ctx;
    }

    void unregister() {
        this.ctx = null;
    }

    @Override
    public String toString() {
        return "EventNotifier[" + name + (signaled ? ", set" : "") + "]";
    }
}
