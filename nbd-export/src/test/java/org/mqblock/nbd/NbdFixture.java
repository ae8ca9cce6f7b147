package org.mqblock.nbd;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.mqblock.block.BlockBackend;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.IOThread;

/** A server on loopback for tests: a main-loop IOThread that accepts, {@code n} connection IOThreads. */
final class NbdFixture implements AutoCloseable {

    final IOThread main;
    final List<IOThread> io = new ArrayList<>();
    final List<BlockBackend> backends = new ArrayList<>();
    final List<NbdExport> exports = new ArrayList<>();
    final List<String> log = new CopyOnWriteArrayList<>();
    final NbdServer server;
    final InetSocketAddress tcp;
    private boolean closed;

    /** Exports as {@code name -> options}; a name ending in ":ro" is exported read-only. */
    NbdFixture(int iothreads, String... namesAndOptions) {
        this(NbdLimits.DEFAULTS, iothreads, namesAndOptions);
    }

    NbdFixture(NbdLimits limits, int iothreads, String... namesAndOptions) {
        main = IOThread.start("nbd-test-main", IOThread.UNPINNED);
        List<AioContext> ctxs = new ArrayList<>();
        for (int i = 0; i < iothreads; i++) {
            IOThread t = IOThread.start("nbd-test-io" + i, IOThread.UNPINNED);
            io.add(t);
            ctxs.add(t.context());
        }
        for (int i = 0; i < namesAndOptions.length; i += 2) {
            String name = namesAndOptions[i];
            boolean ro = name.endsWith(":ro");
            name = ro ? name.substring(0, name.length() - 3) : name;
            BlockBackend b = BlockBackend.open(name, namesAndOptions[i + 1], ctxs);
            backends.add(b);
            exports.add(new NbdExport(name, b.node(), ro, true, "test export " + name));
        }
        server = NbdServer.start(exports, main.context(), ctxs, log::add, limits);
        tcp = server.listenTcp("127.0.0.1", 0);
    }

    NbdFixture(String options) {
        this(2, "disk", options);
    }

    void listenUnix(Path p) {
        server.listenUnix(p);
    }

    /** Stops the server gracefully, then closes the nodes (drain, flush) and the threads. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        // After a timed-out test JUnit interrupts this thread; waits inside close() would then
        // return at once (and the drain spin), so close with the flag down and restore it after.
        boolean interrupted = Thread.interrupted();
        try {
            server.close(10_000);
        } finally {
            try {
                for (BlockBackend b : backends) {
                    b.close();
                }
                for (IOThread t : io) {
                    t.close();
                }
                main.close();
            } finally {
                if (interrupted) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }
}
