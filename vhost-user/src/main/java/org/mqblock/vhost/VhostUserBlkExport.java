package org.mqblock.vhost;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.IOThread;
import org.mqblock.memory.AddressSpace;
import org.mqblock.nativeio.NativeException;
import org.mqblock.nativeio.UnixSocket;
import org.mqblock.virtio.VirtioBlk;
import org.mqblock.virtio.VqMapping;

/**
 * The vhost-user-blk export (qemu-storage-daemon's {@code --export type=vhost-user-blk}): a
 * multiqueue {@link VirtioBlk} device over a block driver, served to one vhost-user front-end at
 * a time (QEMU's {@code vhost-user-blk-pci}, libblkio, our own front-end) on a Unix socket.
 *
 * <p>Virtqueue {@code i} is served by the IOThread the {@link VqMapping} gives it, through its own
 * {@link org.mqblock.block.BlockQueue} there; its kick eventfd is watched by that IOThread's epoll
 * monitor with the avail-index busy poll, and its completions write the call eventfd once per
 * {@link org.mqblock.core.loop.DeferCall} batch (both inside {@link VirtioBlk}). The device and
 * its node outlive connections: a front-end that reconnects finds what the previous one wrote.
 *
 * <h2>Threads</h2>
 * An acceptor thread accepts front-ends and gives each a {@link VhostUserBlkConnection} on a
 * thread of its own (see there why). One at a time, as qemu-storage-daemon: a front-end that
 * connects while another is served is accepted, logged, and waits (its first request unanswered)
 * until the current one disconnects; further ones wait in the listen backlog. A session that ends
 * for any reason (hang-up, protocol error, internal failure) has cleaned up the device before the
 * next one starts. Nothing of this runs on an IOThread, so a malformed or stalling front-end
 * affects no IOThread beyond the virtqueues it drives.
 *
 * <p>Context: {@link #start} and {@link #close} from the main loop; the rest any thread.
 */
public final class VhostUserBlkExport implements AutoCloseable {

    /** The largest ring a front-end may set up (QEMU's VIRTQUEUE_MAX_SIZE; its vhost-user-blk uses 128 by default). */
    static final int MAX_QUEUE_SIZE = 1024;
    /** How long {@link #close} waits for the session to stop its rings before closing the device anyway. */
    private static final long CLOSE_WAIT_MS = 30_000;

    private final VhostUserBlkOptions options;
    private final VirtioBlk device;
    private final AddressSpace as;
    private final UnixSocket listener;
    private final Consumer<String> log;
    private final boolean trace;
    private final Thread acceptor;
    /** Front-ends whose session started; the acceptor writes (volatile), any thread reads. */
    private final AtomicLong accepted = new AtomicLong();

    private final Object lock = new Object();
    /** Set under {@link #lock} by close (volatile: the acceptor reads it without the lock too). */
    private volatile boolean closing;
    /** The session being served; written under {@link #lock} by the acceptor, read under it by close. */
    private VhostUserBlkConnection connection;
    /** Its thread; written by the acceptor under {@link #lock} (volatile: tests and close read it). */
    private volatile Thread sessionThread;

    private VhostUserBlkExport(VhostUserBlkOptions options, VirtioBlk device, AddressSpace as, UnixSocket listener,
                               Consumer<String> log, boolean trace) {
        this.options = options;
        this.device = device;
        this.as = as;
        this.listener = listener;
        this.log = log;
        this.trace = trace;
        this.acceptor = new Thread(this::acceptLoop, "vhost-user-blk-" + options.id() + "-accept");
        acceptor.setDaemon(true);
    }

    /**
     * Validates everything, then creates the device over {@code driver} (which it owns from now
     * on, also when this fails), listens on the socket and starts accepting. Nothing is started
     * when the options are refused.
     *
     * @param iothreads the IOThreads the mapping names, by {@link IOThread#id()}; each must sleep
     *     in the epoll monitor ({@code EpollMonitor.FACTORY}), which watches raw fds
     * @param trace log every request and reply (see {@link #traceByDefault()})
     * @throws IllegalArgumentException naming the option, IOThread or path at fault
     */
    public static VhostUserBlkExport start(VhostUserBlkOptions options, BlockDriver driver, List<IOThread> iothreads,
                                           Consumer<String> log, boolean trace) {
        Objects.requireNonNull(log, "log");
        VirtioBlk device = null;
        try {
            List<String> ids = new ArrayList<>();
            List<AioContext> ctxs = new ArrayList<>();
            for (IOThread t : iothreads) {
                if (!t.context().monitorKind().equals("epoll")) {
                    throw new IllegalArgumentException("IOThread '" + t.id() + "' sleeps in the "
                            + t.context().monitorKind() + " monitor; vhost-user kick fds need the epoll monitor"
                            + " (IOThread.start(..., EpollMonitor.FACTORY))");
                }
                ids.add(t.id());
                ctxs.add(t.context());
            }
            VqMapping mapping = options.mapping(ids);
            if (Files.exists(options.socketPath())) {
                throw new IllegalArgumentException(VhostUserBlkOptions.TYPE + ": addr.path " + options.socketPath()
                        + " exists; remove it first (a socket left by an earlier run?)");
            }
            AddressSpace as = new AddressSpace("vhost-user-blk-" + options.id());
            VirtioBlk.Config config = new VirtioBlk.Config(options.numQueues(), MAX_QUEUE_SIZE, true,
                    options.id(), !options.writable(), options.logicalBlockSize());
            device = new VirtioBlk(options.id(), driver, as, config, mapping, ctxs, null);
            UnixSocket listener;
            try {
                listener = UnixSocket.listen(options.socketPath(), 1);
            } catch (NativeException e) {
                throw new IllegalArgumentException(VhostUserBlkOptions.TYPE + ": cannot listen on "
                        + options.socketPath() + ": " + e.getMessage(), e);
            }
            VhostUserBlkExport x = new VhostUserBlkExport(options, device, as, listener, log, trace);
            x.acceptor.start();
            return x;
        } catch (RuntimeException | Error e) {
            if (device != null) {
                device.close();
            } else {
                try {
                    driver.close();
                } catch (java.io.IOException | RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    /** Whether {@code -Dmqblock.vhost.trace=true} asks for the protocol trace. */
    public static boolean traceByDefault() {
        return VhostUserTrace.enabledByProperty();
    }

    // ---------------------------------------------------------------------------------------
    // Accepting

    private void acceptLoop() {
        log("listening on " + options.socketPath() + " (" + options.numQueues() + " virtqueues, "
                + (options.writable() ? "writable" : "read-only") + ", " + options.logicalBlockSize() + "-byte blocks)");
        while (!closing) {
            UnixSocket s;
            try {
                s = listener.accept();
            } catch (NativeException e) {
                if (closing) {
                    break;
                }
                log("accept failed: " + e.getMessage() + "; retrying");
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(100)); // e.g. EMFILE: do not spin
                continue;
            }
            if (s == null) {
                continue;
            }
            if (closing) {
                s.close(); // close's own wake-up connect, or a front-end too late
                break;
            }
            long n = accepted.get() + 1;
            Thread current = sessionThread;
            if (current != null && current.isAlive()) {
                log("front-end #" + n + " connected while #" + (n - 1) + " is served: it waits until that one"
                        + " disconnects (one front-end at a time, as qemu-storage-daemon)");
                joinQuietly(current, Long.MAX_VALUE);
            }
            startSession(s, n);
        }
        log("no longer accepting front-ends");
    }

    private void startSession(UnixSocket s, long n) {
        synchronized (lock) {
            if (closing) {
                s.close();
                return;
            }
            VhostUserBlkConnection c = new VhostUserBlkConnection(options.id(), n, device, as, new VhostUserChannel(s),
                    log, trace);
            Thread t = new Thread(() -> {
                log("front-end #" + n + " connected");
                c.run();
            }, "vhost-user-blk-" + options.id() + "-conn" + n);
            t.setDaemon(true);
            connection = c;
            sessionThread = t;
            t.start();
            // Counted only once its session runs: whoever sees the count sees serving() true until
            // the session ends (mqb serve --run-front-ends stops on "accepted and not serving").
            accepted.set(n);
        }
    }

    private static void joinQuietly(Thread t, long ms) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(Math.min(ms, Long.MAX_VALUE / 2_000_000));
        boolean interrupted = false;
        while (t.isAlive()) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                break;
            }
            try {
                t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    // ---------------------------------------------------------------------------------------
    // Accessors

    public VhostUserBlkOptions options() {
        return options;
    }

    /** The device (for tests and statistics). Context: any thread. */
    public VirtioBlk device() {
        return device;
    }

    public Path socketPath() {
        return options.socketPath();
    }

    /** Front-ends accepted so far. Context: any thread. */
    public long acceptedCount() {
        return accepted.get();
    }

    /** Whether a front-end's session is running now. Context: any thread. */
    public boolean serving() {
        Thread t = sessionThread;
        return t != null && t.isAlive();
    }

    /**
     * Waits until no session runs (the current front-end, if any, disconnected and its session
     * cleaned up), or the timeout passes; returns whether none runs. Context: any thread.
     */
    public boolean awaitIdle(long timeout, TimeUnit unit) {
        Thread t = sessionThread;
        if (t != null) {
            joinQuietly(t, unit.toMillis(timeout));
        }
        return !serving();
    }

    /**
     * Stops accepting, ends the session (its rings stop after their requests complete, guest RAM
     * is released), then closes the device, which drains and flushes its node and closes the
     * driver, and removes the socket. Idempotent. Context: the main loop.
     */
    @Override
    public void close() {
        VhostUserBlkConnection c;
        synchronized (lock) {
            if (closing) {
                return;
            }
            closing = true;
            c = connection;
        }
        try {
            listener.shutdown(UnixSocket.SHUT_RDWR); // wakes the acceptor's accept
        } catch (NativeException ignored) {
            // not every kernel wakes accept this way; the connect below does
        }
        if (c != null) {
            c.close();
        }
        wakeAcceptor();
        joinQuietly(acceptor, CLOSE_WAIT_MS);
        Thread t = sessionThread;
        if (t != null) {
            joinQuietly(t, CLOSE_WAIT_MS);
            if (t.isAlive()) {
                log("the session did not end within " + CLOSE_WAIT_MS + " ms; closing the device under it");
            }
        }
        try {
            device.close();
        } finally {
            listener.close();
        }
        log("closed after " + accepted.get() + " front-end(s)");
    }

    /** Connects to our own socket, in case shutdown did not wake a blocked accept. */
    private void wakeAcceptor() {
        if (!acceptor.isAlive()) {
            return;
        }
        try (UnixSocket s = UnixSocket.connect(options.socketPath())) {
            s.shutdown(UnixSocket.SHUT_RDWR);
        } catch (NativeException ignored) {
            // the listener is shut down: accept already woke
        }
    }

    private void log(String line) {
        log.accept("vhost-user-blk " + options.id() + ": " + line);
    }

    @Override
    public String toString() {
        return "VhostUserBlkExport[" + options.id() + ", " + options.socketPath() + ", " + accepted.get() + " accepted]";
    }
}
