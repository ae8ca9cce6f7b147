package org.mqblock.core.loop;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * An event source that any thread sets and the context that watches it tests and clears before
 * running its handler ({@code EventNotifier} + {@code aio_set_event_notifier}). Setting an
 * already set notifier does nothing more, so a burst of {@link #set()} calls costs one wakeup.
 *
 * <p>Two forms. The plain one is a Java flag: cheap, for threads of this process. The other is
 * made over an {@link FdSignal} (an eventfd, {@code ioeventfd}): another process can set it by
 * writing the fd, {@link #set()} writes it too, and the watching context sleeps on the fd through
 * its monitor (which must take raw fds: the epoll monitor).
 *
 * <p>A notifier is watched by at most one context at a time ({@link AioContext#setEventNotifier});
 * it can be moved to another by removing it from the first. A notifier set while no context
 * watches it stays set and fires once one does.
 */
public final class EventNotifier extends PollSource {

    private static final VarHandle SIGNALED;

    static {
        try {
            SIGNALED = MethodHandles.lookup().findVarHandle(EventNotifier.class, "signaled", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final String name;
    private final FdSignal signal;

    /** Set by any thread (getAndSet), cleared by the watching context's thread (getAndSet). Flag form only. */
    @SuppressWarnings("unused")
    private volatile boolean signaled;

    // Registration: written by the thread holding the watching context; `ctx` is volatile because
    // set() reads it from any thread to know whom to wake. The others are read only by the context.
    private volatile AioContext ctx;
    Runnable handler;
    PollHandler pollHandler;
    boolean external;
    private FdWatch watch; // the fd form's watch in its context

    /** A notifier over a Java flag. */
    public EventNotifier(String name) {
        this(name, null);
    }

    /** A notifier over {@code signal} (an eventfd), which another process may write; null: a Java flag. */
    public EventNotifier(String name, FdSignal signal) {
        this.name = name;
        this.signal = signal;
    }

    /**
     * Signals the notifier and wakes its context if it sleeps. Context: any thread.
     *
     * <p>Whatever the caller wrote before, even with plain or release stores (an SPSC ring's
     * offer), is visible to the handler that runs after the flag is cleared. The fence makes that
     * so on the fast path: without it the load that finds the flag still set could pass the
     * caller's store, the loop could clear the flag and miss the data, and nobody would wake it
     * (a lost wakeup seen under load, pinned by a test). The signal itself is published before the
     * context is notified (getAndSet, then {@link AioContext#aioNotify()}). The fd form writes
     * the fd (a system call, which orders the caller's stores before it).
     */
    public void set() {
        if (signal != null) {
            signal.signal();
            return;
        }
        VarHandle.fullFence(); // the caller's stores before the load of `signaled` (pairs with the fence in testAndClear)
        if (!signaled && !(boolean) SIGNALED.getAndSet(this, true)) {
            AioContext c = ctx;
            if (c != null) {
                c.aioNotify();
            }
        }
    }

    /**
     * Clears the notifier, returning whether it was set. Context: the watching context's thread.
     *
     * <p>The fence after the clearing read-modify-write keeps the handler's later plain loads (a
     * ring's slots) from moving before it: the Java memory model makes a volatile RMW a full
     * fence only for other volatile accesses, not for later plain loads on weakly ordered CPUs
     * (QEMU's {@code smp_mb__after_rmw()}). Pairs with the fence in {@link #set()}.
     */
    public boolean testAndClear() {
        boolean was = signal != null ? signal.testAndClear()
                : signaled && (boolean) SIGNALED.getAndSet(this, false);
        if (was) {
            VarHandle.fullFence();
        }
        return was;
    }

    /** Whether the notifier is set (the flag form; the fd form cannot tell without consuming). */
    public boolean isSet() {
        return signaled;
    }

    /** The fd this notifier is over, or null for the flag form. */
    public FdSignal signal() {
        return signal;
    }

    public String name() {
        return name;
    }

    AioContext context() {
        return ctx;
    }

    FdWatch watch() {
        return watch;
    }

    /** The fd form's read handler: consume the fd's count, then run the handler. */
    void fireFromSignal() {
        if (testAndClear()) {
            handler.run();
        }
    }

    void register(AioContext ctx, boolean external, Runnable handler, PollHandler pollHandler, FdWatch watch) {
        this.external = external;
        this.handler = handler;
        this.pollHandler = pollHandler;
        this.watch = watch;
        this.ctx = ctx;
    }

    void unregister() {
        this.ctx = null;
        this.watch = null;
    }

    @Override
    PollHandler pollHandler() {
        return pollHandler;
    }

    @Override
    boolean external() {
        return external;
    }

    @Override
    void runPolled(boolean externalDisabled) {
        if (ctx != null && !(external && externalDisabled)) { // an earlier handler may have removed it
            handler.run();
        }
    }

    @Override
    public String toString() {
        return "EventNotifier[" + name + (signal != null ? ", fd " + signal.fd() : "") + (signaled ? ", set" : "") + "]";
    }
}
