package org.mqblock.nbd;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.FdWatch;

/**
 * An NBD server: listening sockets (TCP, Unix domain) watched by the main loop's context, which
 * accepts each client and hands it to the IOThread context with fewest live connections (ties to
 * the lowest index, so connections go round-robin); from then on the connection lives in that
 * context only ({@link NbdConnection}).
 *
 * <p>What clients can make it hold is bounded by its {@link NbdLimits}: connections beyond the cap
 * are closed at accept, before anything is allocated for them; a connection allocates its buffers
 * in its own IOThread once it starts; request data comes from one {@link NbdBufferPool} per server.
 *
 * <p>Every export must have at least one queue in each connection context, so a connection can
 * take a queue of whichever export its client picks in its own thread; {@link #start} checks that.
 *
 * <p>Context: {@link #start}, the {@code listen} methods and {@link #close} from the main loop
 * (any thread that is not one of the server's contexts' home threads); the rest from any thread.
 */
public final class NbdServer implements AutoCloseable {

    private final Map<String, NbdExport> exports;
    private final AioContext acceptCtx;
    private final List<AioContext> ioContexts;
    private final Consumer<String> log;
    private final NbdLimits limits;
    private final NbdBufferPool bufferPool;

    /** Live connections per IOThread context: the accept thread increments, IOThreads decrement. */
    private final AtomicIntegerArray perContext;
    /** Accept thread adds, IOThreads remove (concurrent set); close() reads it. */
    private final Set<NbdConnection> connections = ConcurrentHashMap.newKeySet();
    /** The main loop adds (listen) and clears (close); copy-on-write, so addresses() may read it from any thread. */
    private final List<Listener> listeners = new CopyOnWriteArrayList<>();
    /** Main loop sets it in close(); the accept thread reads it (volatile). */
    private volatile boolean closing;
    private final AtomicLong accepted = new AtomicLong();
    /** Clients closed at accept because maxConnections were being served; the accept thread writes. */
    private final AtomicLong refused = new AtomicLong();
    /** Listen backlog: bursts of clients (fio numjobs, nbdcopy's connections) must not wait for a SYN retry. */
    static final int BACKLOG = 4096;

    private record Listener(ServerSocketChannel channel, FdWatch watch, Path unixPath, SocketAddress address) {}

    private NbdServer(List<NbdExport> exports, AioContext acceptCtx, List<AioContext> ioContexts, Consumer<String> log,
                      NbdLimits limits) {
        Map<String, NbdExport> m = new LinkedHashMap<>();
        for (NbdExport e : exports) {
            if (m.put(e.name(), e) != null) {
                throw new IllegalArgumentException("two exports named '" + e.name() + "'");
            }
            for (AioContext c : ioContexts) {
                if (!e.servedBy(c)) {
                    throw new IllegalArgumentException("export '" + e.name() + "' has no queue on context '"
                            + c.name() + "': open its node with queues on every connection context");
                }
            }
        }
        if (m.isEmpty()) {
            throw new IllegalArgumentException("an NBD server needs at least one export");
        }
        if (ioContexts.isEmpty()) {
            throw new IllegalArgumentException("an NBD server needs at least one connection context");
        }
        this.exports = m;
        this.acceptCtx = Objects.requireNonNull(acceptCtx, "acceptCtx");
        this.ioContexts = List.copyOf(ioContexts);
        this.log = Objects.requireNonNull(log, "log");
        this.perContext = new AtomicIntegerArray(ioContexts.size());
        this.limits = Objects.requireNonNull(limits, "limits");
        this.bufferPool = new NbdBufferPool(limits.serverBufferBytes());
    }

    /**
     * A server for {@code exports}, accepting in {@code acceptCtx} and serving connections in
     * {@code ioContexts}. It listens once a {@code listen} method is called. Messages about
     * misbehaving clients go to {@code log}. Context: the main loop.
     */
    public static NbdServer start(List<NbdExport> exports, AioContext acceptCtx, List<AioContext> ioContexts,
                                  Consumer<String> log) {
        return start(exports, acceptCtx, ioContexts, log, NbdLimits.DEFAULTS);
    }

    /** The same, with {@code limits} on connections and their memory. Context: the main loop. */
    public static NbdServer start(List<NbdExport> exports, AioContext acceptCtx, List<AioContext> ioContexts,
                                  Consumer<String> log, NbdLimits limits) {
        return new NbdServer(exports, acceptCtx, ioContexts, log, limits);
    }

    /** Listens on TCP {@code host:port} (port 0: any free port); returns the bound address. */
    public InetSocketAddress listenTcp(String host, int port) {
        try {
            ServerSocketChannel ch = ServerSocketChannel.open(StandardProtocolFamily.INET);
            try {
                ch.setOption(StandardSocketOptions.SO_REUSEADDR, true);
                ch.bind(new InetSocketAddress(host, port), BACKLOG);
            } catch (IOException | RuntimeException e) {
                ch.close();
                throw e;
            }
            InetSocketAddress bound = (InetSocketAddress) ch.getLocalAddress();
            watch(ch, null, bound);
            return bound;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot listen on " + host + ":" + port + ": " + e.getMessage(), e);
        }
    }

    /**
     * Listens on a Unix domain socket at {@code path}. A socket file left there by an earlier
     * server is replaced; any other file is refused.
     */
    public void listenUnix(Path path) {
        try {
            if (Files.exists(path, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                int mode = (Integer) Files.getAttribute(path, "unix:mode", java.nio.file.LinkOption.NOFOLLOW_LINKS);
                if ((mode & 0170000) != 0140000) {
                    throw new IllegalArgumentException(path + " exists and is not a socket; not replacing it");
                }
                Files.delete(path);
            }
            ServerSocketChannel ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            try {
                ch.bind(UnixDomainSocketAddress.of(path), BACKLOG);
            } catch (IOException | RuntimeException e) {
                ch.close();
                throw e;
            }
            watch(ch, path, ch.getLocalAddress());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot listen on " + path + ": " + e.getMessage(), e);
        }
    }

    private void watch(ServerSocketChannel ch, Path unixPath, SocketAddress address) {
        acceptCtx.acquire();
        try {
            FdWatch[] w = new FdWatch[1];
            w[0] = acceptCtx.watchChannel(ch, false, () -> acceptAll(ch), null);
            listeners.add(new Listener(ch, w[0], unixPath, address));
        } finally {
            acceptCtx.release();
        }
    }

    /** The accept handler: takes every pending client. Context: the accept context. */
    private void acceptAll(ServerSocketChannel server) {
        while (true) {
            SocketChannel ch;
            try {
                ch = server.accept();
            } catch (IOException e) {
                log("nbd: accept failed: " + e.getMessage());
                return;
            }
            if (ch == null) {
                return;
            }
            if (closing) {
                closeQuietly(ch);
                continue;
            }
            if (connections.size() >= limits.maxConnections()) {
                // Closed at once rather than left in the backlog: the client learns now, and a
                // flood costs the server nothing but the accept.
                closeQuietly(ch);
                long n = refused.incrementAndGet();
                if (Long.bitCount(n) == 1) { // 1, 2, 4, 8, ...: a flood does not flood the log
                    log("nbd: " + limits.maxConnections() + " clients connected already; refused " + n + " so far");
                }
                continue;
            }
            String peer;
            try {
                if (ch.getRemoteAddress() instanceof InetSocketAddress) {
                    ch.setOption(StandardSocketOptions.TCP_NODELAY, true); // replies are batched already
                }
                SocketAddress ra = ch.getRemoteAddress();
                peer = ra instanceof UnixDomainSocketAddress ? "unix#" + accepted.get() : String.valueOf(ra);
            } catch (IOException e) {
                closeQuietly(ch);
                continue;
            }
            accepted.incrementAndGet();
            int idx = leastLoadedContext();
            perContext.incrementAndGet(idx);
            NbdConnection c = new NbdConnection(this, ch, ioContexts.get(idx), idx, peer);
            connections.add(c);
            c.context().schedule(c::start);
        }
    }

    private int leastLoadedContext() {
        int best = 0;
        for (int i = 1; i < ioContexts.size(); i++) {
            if (perContext.get(i) < perContext.get(best)) {
                best = i;
            }
        }
        return best;
    }

    /** A connection is gone for good (its requests all completed). Context: its IOThread. */
    void connectionClosed(NbdConnection c) {
        if (connections.remove(c)) {
            perContext.decrementAndGet(c.contextIndex());
            synchronized (this) {
                notifyAll();
            }
        }
    }

    NbdExport export(String name) {
        if (name.isEmpty()) {
            return exports.values().iterator().next(); // the empty name means the default export
        }
        return exports.get(name);
    }

    Iterable<NbdExport> exports() {
        return exports.values();
    }

    NbdLimits limits() {
        return limits;
    }

    NbdBufferPool bufferPool() {
        return bufferPool;
    }

    /** Bytes of request buffers the server holds now (lent to connections or idle in its pool). Context: any thread. */
    public long bufferBytes() {
        return bufferPool.allocatedBytes();
    }

    /** Clients refused because {@link NbdLimits#maxConnections} were connected. Context: any thread. */
    public long refusedCount() {
        return refused.get();
    }

    void log(String message) {
        log.accept(message);
    }

    /** Live connections. Context: any thread. */
    public int connectionCount() {
        return connections.size();
    }

    /** Clients accepted since the start. Context: any thread. */
    public long acceptedCount() {
        return accepted.get();
    }

    /** The addresses listened on. */
    public List<SocketAddress> addresses() {
        List<SocketAddress> l = new ArrayList<>();
        for (Listener x : listeners) {
            l.add(x.address());
        }
        return l;
    }

    /**
     * Stops accepting, lets every connection finish the requests it has in flight and send their
     * replies, then closes them; connections not done after {@code timeoutMs} are cut. Returns
     * whether all closed gracefully. The exports' nodes stay open: their owner closes them (which
     * drains and flushes). Context: the main loop.
     */
    public boolean close(long timeoutMs) {
        closing = true;
        acceptCtx.acquire();
        try {
            for (Listener l : listeners) {
                l.watch().close();
                closeQuietly(l.channel());
                if (l.unixPath() != null) {
                    try {
                        Files.deleteIfExists(l.unixPath());
                    } catch (IOException e) {
                        log("nbd: cannot remove " + l.unixPath() + ": " + e.getMessage());
                    }
                }
            }
            listeners.clear();
        } finally {
            acceptCtx.release();
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        boolean graceful = runInEachConnection(NbdConnection::shutdown, deadline) && awaitNoConnections(deadline);
        if (!graceful) {
            long cut = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            runInEachConnection(c -> c.abort("server shutting down"), cut);
            awaitNoConnections(cut);
        }
        return graceful;
    }

    /**
     * Runs {@code step} in each live connection's thread and waits until every one has run (or
     * the deadline passed): the caller may stop those IOThreads next, so close must not return
     * with its own bottom halves still queued, even for a connection that ends meanwhile.
     */
    private boolean runInEachConnection(Consumer<NbdConnection> step, long deadline) {
        List<NbdConnection> live = new ArrayList<>(connections);
        CountDownLatch ran = new CountDownLatch(live.size());
        for (NbdConnection c : live) {
            c.context().schedule(() -> {
                try {
                    step.accept(c);
                } finally {
                    ran.countDown();
                }
            });
        }
        try {
            return ran.await(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private boolean awaitNoConnections(long deadline) {
        synchronized (this) {
            while (!connections.isEmpty()) {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (left <= 0) {
                    return false;
                }
                try {
                    wait(Math.min(left, 100));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return false;
                }
            }
        }
        return true;
    }

    @Override
    public void close() {
        close(10_000);
    }

    private static void closeQuietly(java.nio.channels.Channel ch) {
        try {
            ch.close();
        } catch (IOException e) {
            // closing anyway
        }
    }
}
