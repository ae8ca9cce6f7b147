package org.mqblock.core.loop;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.CancelledKeyException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * The pure-Java {@link FdMonitor}: {@code java.nio} channels over a {@link Selector}, opened when
 * the first channel is watched (QEMU's fdmon-poll has the same role). Raw fds are refused: they
 * need the epoll monitor of mq-native.
 *
 * <p>It sleeps in one of two primitives and says which in {@link #parking} before it sleeps, so
 * that {@link #wakeup()} makes one call: {@code LockSupport.unpark} for a park (no channel
 * watched, or a deadline under the Selector's 1 ms resolution), {@code Selector.wakeup()} for a
 * select. A waker that read a stale mode is covered by the recheck: {@code parking} is written
 * before the context's {@code notified} flag is read again, and a waker sets {@code notified}
 * before it reads {@code parking} (all volatile), so either the sleeper sees the notification and
 * does not park, or the waker sees it parking and unparks. A stale {@code Selector.wakeup()} only
 * makes the next select return early.
 */
final class SelectorMonitor implements FdMonitor {

    private static final long SELECT_MIN_NS = 1_000_000; // Selector timeouts are in milliseconds

    private final AioContext ctx;

    /** Written by a thread holding the context when it watches its first channel; read by wakers (volatile). */
    private volatile Selector selector;

    /** The home thread writes it around each park (volatile); wakers read it to choose their one call. */
    private volatile boolean parking;

    /** The home thread only: where {@link #wait} puts ready keys' watches. */
    private ReadyList sink;
    private final Consumer<SelectionKey> collect = this::collect;

    SelectorMonitor(AioContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public String kind() {
        return "selector";
    }

    @Override
    public void update(FdWatch watch, int events) {
        if (watch.channel() == null) {
            throw new IllegalArgumentException("AioContext '" + ctx.name() + "' uses the Selector monitor, which"
                    + " watches java.nio channels only; fd " + watch.fd() + " needs the epoll monitor (mq-native's"
                    + " EpollMonitor)");
        }
        SelectionKey key = (SelectionKey) watch.attachment();
        if (key == null) {
            key = register(watch);
            watch.attach(key);
        }
        if (!key.isValid()) {
            return;
        }
        int valid = watch.channel().validOps();
        int ops = 0;
        // "readable" is OP_ACCEPT for a server socket, "writable" OP_CONNECT for a connecting one
        ops |= (events & READ) != 0 ? valid & (SelectionKey.OP_READ | SelectionKey.OP_ACCEPT) : 0;
        ops |= (events & WRITE) != 0 ? valid & (SelectionKey.OP_WRITE | SelectionKey.OP_CONNECT) : 0;
        if (key.interestOps() != ops) {
            key.interestOps(ops);
        }
    }

    private SelectionKey register(FdWatch watch) {
        try {
            Selector sel = selector;
            if (sel == null) {
                sel = Selector.open();
                selector = sel; // a loop parked without a deadline must now select: the context kicks it
            }
            watch.channel().configureBlocking(false);
            try {
                return watch.channel().register(sel, 0, watch);
            } catch (CancelledKeyException e) {
                sel.selectNow(); // a key cancelled earlier is deregistered at the next selection
                return watch.channel().register(sel, 0, watch);
            }
        } catch (ClosedChannelException e) {
            throw new IllegalArgumentException("cannot watch a closed channel: " + watch.channel(), e);
        } catch (IOException e) {
            throw new UncheckedIOException("AioContext '" + ctx.name() + "': cannot watch " + watch.channel(), e);
        }
    }

    @Override
    public void remove(FdWatch watch) {
        SelectionKey key = (SelectionKey) watch.attachment();
        if (key != null) {
            key.cancel();
        }
    }

    @Override
    public int wait(long timeoutNs, ReadyList ready) {
        Selector sel = selector;
        int before = ready.size();
        sink = ready;
        try {
            if (sel != null && timeoutNs == 0) {
                sel.selectNow(collect);
            } else if (sel != null && (timeoutNs < 0 || timeoutNs >= SELECT_MIN_NS)) {
                // Round down: waking up to 1 ms early re-enters the loop, which parks the rest precisely.
                sel.select(collect, timeoutNs < 0 ? 0 : timeoutNs / SELECT_MIN_NS);
            } else if (timeoutNs != 0) {
                park(timeoutNs);
                if (sel != null) {
                    sel.selectNow(collect);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("AioContext '" + ctx.name() + "': select failed", e);
        } finally {
            sink = null;
        }
        return ready.size() - before;
    }

    private void park(long timeoutNs) {
        parking = true; // before the recheck of notified below; pairs with the read in wakeup()
        try {
            long deadline = timeoutNs < 0 ? 0 : System.nanoTime() + timeoutNs;
            while (!ctx.notifiedPending() && !Thread.currentThread().isInterrupted()) {
                if (timeoutNs < 0) {
                    if (selector != null) {
                        return; // a channel was watched meanwhile: select instead
                    }
                    LockSupport.park(this);
                } else {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        return;
                    }
                    LockSupport.parkNanos(this, left);
                }
            }
        } finally {
            parking = false;
        }
    }

    private void collect(SelectionKey key) {
        int ready = key.readyOps();
        int events = 0;
        events |= (ready & (SelectionKey.OP_READ | SelectionKey.OP_ACCEPT)) != 0 ? READ : 0;
        events |= (ready & (SelectionKey.OP_WRITE | SelectionKey.OP_CONNECT)) != 0 ? WRITE : 0;
        sink.add((FdWatch) key.attachment(), events);
    }

    @Override
    public void wakeup() {
        Selector sel = selector;
        if (sel != null && !parking) {
            sel.wakeup();
        } else {
            Thread h = ctx.homeThread();
            if (h != null) {
                LockSupport.unpark(h);
            }
        }
    }

    @Override
    public void close() {
        Selector sel = selector;
        if (sel != null) {
            try {
                sel.close();
            } catch (IOException e) {
                throw new UncheckedIOException("AioContext '" + ctx.name() + "': closing the selector", e);
            }
        }
    }
}
