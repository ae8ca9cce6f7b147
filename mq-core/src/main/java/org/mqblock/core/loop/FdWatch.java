package org.mqblock.core.loop;

import java.nio.channels.SelectableChannel;
import java.util.function.Consumer;

/**
 * A source a context watches for readiness ({@code aio_set_fd_handler}): a {@code java.nio}
 * channel ({@link AioContext#watchChannel}) or a raw file descriptor ({@link AioContext#watchFd}),
 * whichever its {@link FdMonitor} can watch. The read handler runs when the source is readable,
 * the write handler when it is writable, each in the context's thread. A null handler means "not
 * interested", so a server asks for writability only while it has bytes queued.
 *
 * <p>A watch with a {@link PollHandler} ({@code io_poll}) takes part in busy polling: the loop
 * calls it instead of waiting and runs the read handler when it reports work. A watch without one
 * stops its context from busy polling (QEMU's {@code poll_disable_cnt}).
 *
 * <p>An external watch (a guest or a network client, {@code is_external} in QEMU) is silenced
 * while its context has external sources disabled ({@link AioContext#disableExternal()}).
 *
 * <p>Context for every method: a thread holding the context. Not threadsafe otherwise.
 */
public final class FdWatch extends PollSource {

    private final AioContext ctx;
    private final SelectableChannel channel;
    private final int fd;
    private final boolean external;
    final PollHandler pollHandler;
    // Plain: written and read only by the thread holding the context.
    private Runnable onReadable;
    private Runnable onWritable;
    private Runnable onPolled; // what a poll handler's "work found" runs; null: the read handler
    private Consumer<Throwable> onFailure;
    private int events = -1; // what the monitor was last asked for; -1 before the first update
    private boolean closed;
    private Object attachment;

    FdWatch(AioContext ctx, SelectableChannel channel, int fd, boolean external,
            Runnable onReadable, Runnable onWritable, PollHandler pollHandler) {
        this.ctx = ctx;
        this.channel = channel;
        this.fd = fd;
        this.external = external;
        this.onReadable = onReadable;
        this.onWritable = onWritable;
        this.pollHandler = pollHandler;
    }

    /** Sets or clears (null) the read handler. */
    public void setReadHandler(Runnable handler) {
        ctx.assertHeld();
        onReadable = handler;
        applyInterest(ctx.externalDisabled());
    }

    /** Sets or clears (null) the write handler. */
    public void setWriteHandler(Runnable handler) {
        ctx.assertHeld();
        onWritable = handler;
        applyInterest(ctx.externalDisabled());
    }

    /**
     * Sets who is told when a handler of this watch throws ({@code null}: the watch is closed):
     * the owner of the source, which then closes it (a connection ends, the IOThread goes on
     * serving every other source). Runs in the context's thread.
     */
    public void setFailureHandler(Consumer<Throwable> handler) {
        ctx.assertHeld();
        onFailure = handler;
    }

    void setPolledHandler(Runnable handler) {
        onPolled = handler;
    }

    /** A handler threw: tell the owner, or stop watching. */
    void failed(Throwable failure) {
        Consumer<Throwable> h = onFailure;
        if (h == null) {
            close();
            return;
        }
        try {
            h.accept(failure);
        } catch (Throwable t) {
            failure.addSuppressed(t);
            close();
        }
    }

    /** Stops watching the source (the source itself stays open). Idempotent. */
    public void close() {
        ctx.assertHeld();
        if (!closed) {
            closed = true;
            ctx.unwatch(this);
        }
    }

    /** The watched channel, or null for a raw fd. */
    public SelectableChannel channel() {
        return channel;
    }

    /** The watched raw fd, or -1 for a channel. */
    public int fd() {
        return fd;
    }

    public boolean isExternal() {
        return external;
    }

    public boolean isClosed() {
        return closed;
    }

    /** The monitor's own per-watch state (a SelectionKey, an epoll slot). Context: the monitor. */
    public Object attachment() {
        return attachment;
    }

    /** Sets the monitor's per-watch state. Context: the monitor. */
    public void attach(Object state) {
        attachment = state;
    }

    /** Asks the monitor for what the handlers and the external-disable state call for. */
    void applyInterest(boolean externalDisabled) {
        if (closed) {
            return;
        }
        int want = 0;
        if (!(external && externalDisabled)) {
            want |= onReadable != null ? FdMonitor.READ : 0;
            want |= onWritable != null ? FdMonitor.WRITE : 0;
        }
        if (want != events) {
            ctx.monitor().update(this, want);
            events = want;
        }
    }

    /** Runs the handlers for {@code ready}; returns whether one ran. */
    boolean dispatch(int ready, boolean externalDisabled) {
        if (closed || (external && externalDisabled)) {
            return false;
        }
        boolean ran = false;
        Runnable r = onReadable;
        if ((ready & FdMonitor.READ) != 0 && r != null) {
            r.run();
            ran = true;
        }
        Runnable w = onWritable;
        if ((ready & FdMonitor.WRITE) != 0 && w != null && !closed) {
            w.run();
            ran = true;
        }
        return ran;
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
        Runnable r = onPolled != null ? onPolled : onReadable;
        if (!closed && r != null && !(external && externalDisabled)) {
            r.run();
        }
    }

    @Override
    public String toString() {
        return "FdWatch[" + (channel != null ? channel : "fd " + fd) + (external ? ", external" : "") + "]";
    }
}
