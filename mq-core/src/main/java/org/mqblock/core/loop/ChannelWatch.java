package org.mqblock.core.loop;

import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;

/**
 * A channel watched by a context for readiness ({@code aio_set_fd_handler} over a java.nio
 * {@link java.nio.channels.Selector}): the read handler runs when the channel is readable, the
 * write handler when it is writable, each in the context's thread. A null handler means "not
 * interested", so a server turns write interest on only while it has bytes queued.
 *
 * <p>An external watch (a guest or a network client, {@code is_external} in QEMU) is silenced
 * while its context has external sources disabled ({@link AioContext#disableExternal()}).
 *
 * <p>Context for every method: a thread holding the context. Not threadsafe otherwise.
 */
public final class ChannelWatch {

    private final AioContext ctx;
    private final SelectableChannel channel;
    private final boolean external;
    private final SelectionKey key;
    // Plain: written and read only by the thread holding the context.
    private Runnable onReadable;
    private Runnable onWritable;

    ChannelWatch(AioContext ctx, SelectableChannel channel, SelectionKey key, boolean external,
                 Runnable onReadable, Runnable onWritable) {
        this.ctx = ctx;
        this.channel = channel;
        this.key = key;
        this.external = external;
        this.onReadable = onReadable;
        this.onWritable = onWritable;
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

    /** Stops watching the channel (the channel itself stays open). */
    public void close() {
        ctx.assertHeld();
        if (key.isValid()) {
            key.cancel();
            ctx.unwatch(this);
        }
    }

    public SelectableChannel channel() {
        return channel;
    }

    public boolean isExternal() {
        return external;
    }

    void applyInterest(boolean externalDisabled) {
        if (!key.isValid()) {
            return;
        }
        int ops = 0;
        if (!(external && externalDisabled)) {
            // "readable" is OP_ACCEPT for a server socket, "writable" OP_CONNECT for a connecting one
            int valid = channel.validOps();
            ops |= onReadable != null ? valid & (SelectionKey.OP_READ | SelectionKey.OP_ACCEPT) : 0;
            ops |= onWritable != null ? valid & (SelectionKey.OP_WRITE | SelectionKey.OP_CONNECT) : 0;
        }
        if (key.interestOps() != ops) {
            key.interestOps(ops);
        }
    }

    /** Runs the handlers for what the selector reported; returns whether one ran. */
    boolean dispatch(boolean externalDisabled) {
        if (!key.isValid() || (external && externalDisabled)) {
            return false;
        }
        int ready = key.readyOps();
        boolean ran = false;
        Runnable r = onReadable;
        if ((ready & (SelectionKey.OP_READ | SelectionKey.OP_ACCEPT)) != 0 && r != null) {
            r.run();
            ran = true;
        }
        Runnable w = onWritable;
        if ((ready & (SelectionKey.OP_WRITE | SelectionKey.OP_CONNECT)) != 0 && w != null && key.isValid()) {
            w.run();
            ran = true;
        }
        return ran;
    }

    @Override
    public String toString() {
        return "ChannelWatch[" + channel + (external ? ", external" : "") + "]";
    }
}
