package org.mqblock.experiments;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.mqblock.block.BlockBackend;
import org.mqblock.block.BlockDrivers;
import org.mqblock.block.BlockOptions;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.IOThread;
import org.mqblock.core.loop.PollWindow;
import org.mqblock.core.loop.Timer;
import org.mqblock.nativeio.EpollMonitor;
import org.mqblock.nbd.NbdExport;
import org.mqblock.nbd.NbdLimits;
import org.mqblock.nbd.NbdServer;
import org.mqblock.vhost.VhostUserBlkExport;
import org.mqblock.vhost.VhostUserBlkOptions;
import org.mqblock.virtio.VqMapping;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code mqb serve}: exports a block device in the foreground until SIGINT or SIGTERM, over NBD
 * ({@code --export NAME}) or as a vhost-user-blk export ({@code --export vhost-user-blk,...}).
 *
 * <p>The calling thread is the main loop. NBD: it accepts clients (its own {@link AioContext})
 * and, at shutdown, stops accepting, lets connections finish what they have in flight, then
 * closes the node, which drains it and flushes the driver. Connections live on {@code
 * --iothreads} IOThreads; unless the backend options name {@code queues}, the node gets 8 queues
 * per IOThread, so the first {@code 8 x iothreads} connections each have a queue of their own.
 *
 * <p>vhost-user-blk: the IOThreads are named {@code io0}, {@code io1}, ... and sleep in the
 * epoll monitor (kick eventfds are raw fds); each virtqueue gets a queue of the node on the
 * IOThread the mapping names. The main loop only waits for the signal; the export has its own
 * acceptor and connection threads ({@link VhostUserBlkExport}). Everything is validated (the
 * export options, the mapping against the IOThreads, the backend options) before any thread starts.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve a block device over NBD (newstyle, multi-conn) or as a vhost-user-blk export,"
                + " until SIGINT/SIGTERM.",
        footer = {"",
            "vhost-user-blk (qemu-storage-daemon's keys; one front-end at a time, e.g. QEMU's vhost-user-blk-pci):",
            "  --export vhost-user-blk,addr.path=SOCK[,id=NAME][,num-queues=N][,writable=on|off]"
                    + "[,logical-block-size=BYTES][,iothread-vq-mapping...]",
            "  Defaults as qemu-storage-daemon's: num-queues=1, writable=off, logical-block-size=512.",
            "  IOThreads are io0..io<N-1> (--iothreads N). Virtqueue i goes to io<i mod N> (iothread-vq-mapping=round-robin)",
            "  unless a QEMU iothread-vq-mapping list is given as keyval list keys, e.g. vqs 0,2 on io0 and 1,3 on io1:",
            "    iothread-vq-mapping.0.iothread=io0,iothread-vq-mapping.0.vqs.0=0,iothread-vq-mapping.0.vqs.1=2,",
            "    iothread-vq-mapping.1.iothread=io1,iothread-vq-mapping.1.vqs.0=1,iothread-vq-mapping.1.vqs.1=3",
            "  --tcp, --unix and --read-only are NBD's (use writable=off); --backend must not name queues.",
            "  The vhost-user protocol trace (every request and reply) is logged with -Dmqblock.vhost.trace=true",
            "  (MQB_JAVA_OPTS=-Dmqblock.vhost.trace=true ./mqb serve ...)."})
final class ServeCommand implements Runnable {

    private static final int QUEUES_PER_IOTHREAD = 8;

    @Option(names = "--backend", defaultValue = "driver=memory,size=1G", paramLabel = "OPTIONS",
            description = "Block backend options (default: ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--export", defaultValue = "disk", paramLabel = "NAME|vhost-user-blk,...",
            description = "NBD export name (default: ${DEFAULT-VALUE}; clients asking for \"\" get it too), or"
                    + " vhost-user-blk,addr.path=SOCK,... for a vhost-user-blk export (see below).")
    String export;

    @Option(names = "--tcp", defaultValue = "127.0.0.1:10809", paramLabel = "HOST:PORT",
            description = "TCP address to listen on, or 'none' (default: ${DEFAULT-VALUE}).")
    String tcp;

    @Option(names = "--unix", paramLabel = "PATH", description = "Also listen on this Unix domain socket.")
    Path unix;

    @Option(names = "--iothreads", paramLabel = "N",
            description = "IOThreads serving connections (default: 1 on up to 2 CPUs, else half the CPUs).")
    Integer iothreads;

    @Option(names = "--read-only", description = "Export read-only.")
    boolean readOnly;

    @Option(names = "--max-connections", defaultValue = "512", paramLabel = "N",
            description = "NBD: clients served at once; more are closed at accept (default: ${DEFAULT-VALUE}).")
    int maxConnections;

    @Option(names = "--client-buffer-mib", defaultValue = "64", paramLabel = "MIB",
            description = "NBD: request data one client may make the server hold; over it the server stops"
                    + " reading that client until its replies drain (default: ${DEFAULT-VALUE}, at least 32).")
    long clientBufferMib;

    @Option(names = "--server-buffer-mib", defaultValue = "1024", paramLabel = "MIB",
            description = "NBD: request data all clients together may make the server hold (default: ${DEFAULT-VALUE}).")
    long serverBufferMib;

    @Option(names = "--pin", defaultValue = "on", paramLabel = "on|off",
            description = "Pin IOThreads to CPUs with Chronicle Affinity (default: ${DEFAULT-VALUE}).")
    String pin;

    @Option(names = "--run-seconds", hidden = true, defaultValue = "0",
            description = "Stop by itself after this long (tests).")
    double runSeconds;

    @Option(names = "--run-front-ends", hidden = true, defaultValue = "0",
            description = "vhost-user-blk: stop by itself once this many front-ends have come and gone (tests).")
    int runFrontEnds;

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    /** Set by the shutdown hook (or the timer), read by the main loop (volatile). */
    private volatile boolean stopping;

    @Override
    public void run() {
        int n = iothreads != null ? iothreads : defaultIOThreads();
        if (n < 1 || n > 256) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--iothreads must be 1..256, got " + n);
        }
        if (!pin.equals("on") && !pin.equals("off")) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--pin takes on or off, got '" + pin + "'");
        }
        if (VhostUserBlkOptions.selects(export)) {
            serveVhostUserBlk(n);
            return;
        }
        String tcpHost = tcp.equals("none") ? null : host(tcp);
        int tcpPort = tcp.equals("none") ? 0 : port(tcp);
        if (tcpHost == null && unix == null) {
            throw new CommandLine.ParameterException(spec.commandLine(), "nothing to listen on: give --tcp or --unix");
        }
        NbdLimits limits;
        try {
            limits = NbdLimits.DEFAULTS.withMaxConnections(maxConnections)
                    .withBuffers(clientBufferMib << 20, serverBufferMib << 20);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--max-connections, --client-buffer-mib,"
                    + " --server-buffer-mib: " + e.getMessage());
        }
        String options = backend;
        if (!BlockOptions.parse(options).has("queues")) {
            options = options + ",queues=" + QUEUES_PER_IOTHREAD * n;
        }

        List<IOThread> threads = new ArrayList<>();
        List<AioContext> ctxs = new ArrayList<>();
        AioContext main = new AioContext("nbd-main");
        BlockBackend dev = null;
        NbdServer server = null;
        CountDownLatch done = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            stopping = true;
            main.aioNotify();
            try {
                done.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "mqb-serve-shutdown");
        try {
            for (int i = 0; i < n; i++) {
                IOThread t = IOThread.start("nbd-io" + i, pin.equals("on") ? IOThread.ANY_CPU : IOThread.UNPINNED);
                threads.add(t);
                ctxs.add(t.context());
            }
            dev = BlockBackend.open(export.isEmpty() ? "nbd" : export, options, ctxs);
            NbdExport e = new NbdExport(export, dev.node(), readOnly, true, "mqblock " + backend);
            server = NbdServer.start(List.of(e), main, ctxs, System.err::println, limits);
            List<String> uris = new ArrayList<>();
            if (tcpHost != null) {
                InetSocketAddress a = server.listenTcp(tcpHost, tcpPort);
                uris.add("nbd://" + a.getHostString() + ":" + a.getPort() + "/" + export);
            }
            if (unix != null) {
                server.listenUnix(unix);
                uris.add("nbd+unix:///" + export + "?socket=" + unix);
            }
            Runtime.getRuntime().addShutdownHook(hook);
            System.out.println("mqb serve: export '" + export + "', " + dev.length() + " bytes, " + options
                    + (readOnly ? ", read-only" : "") + ", " + dev.queueCount() + " queues");
            for (IOThread t : threads) {
                System.out.println("  " + t.info());
            }
            for (String u : uris) {
                System.out.println("  listening: " + u);
            }
            System.out.println("mqb serve: ready (SIGINT or SIGTERM stops it)");
            System.out.flush();

            waitForStop(main, null);
            System.out.println("mqb serve: stopping: closing connections, then draining and flushing the device");
        } finally {
            try {
                if (server != null) {
                    boolean graceful = server.close(20_000);
                    System.out.println("mqb serve: " + server.acceptedCount() + " connection(s) served"
                            + (graceful ? "" : "; some did not finish in 20 s and were cut"));
                }
                if (dev != null) {
                    dev.close(); // drains every queue, flushes the driver, closes it
                }
                for (IOThread t : threads) {
                    t.close();
                }
                main.close();
                System.out.println("mqb serve: stopped");
                System.out.flush();
            } finally {
                done.countDown();
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException ignored) {
                    // the hook is what stopped us: the JVM is already shutting down
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // vhost-user-blk

    private void serveVhostUserBlk(int n) {
        for (String nbdOnly : List.of("--tcp", "--unix", "--read-only", "--max-connections", "--client-buffer-mib",
                "--server-buffer-mib")) {
            if (spec.commandLine().getParseResult().hasMatchedOption(nbdOnly)) {
                throw new CommandLine.ParameterException(spec.commandLine(), nbdOnly + " is an NBD option"
                        + (nbdOnly.startsWith("--tcp") || nbdOnly.startsWith("--unix")
                        ? "; a vhost-user-blk export listens on addr.path"
                        : nbdOnly.equals("--read-only") ? "; a vhost-user-blk export is read-only unless writable=on" : ""));
            }
        }
        VhostUserBlkOptions options;
        VqMapping mapping;
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ids.add("io" + i);
        }
        BlockOptions bo;
        try {
            options = VhostUserBlkOptions.parse(export);
            mapping = options.mapping(ids);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--export: " + e.getMessage()
                    + (e.getMessage().contains("IOThread") ? " (--iothreads " + n + " makes " + ids + ")" : ""));
        }
        bo = BlockOptions.parse(backend);
        if (bo.has("queues")) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--backend queues=...: a vhost-user-blk"
                    + " export has one queue per virtqueue; set num-queues in --export");
        }
        BlockDriver driver;
        try {
            driver = BlockDrivers.open(bo);
        } catch (IOException e) {
            throw new UncheckedIOException(e.getMessage(), e);
        }
        try {
            Set<String> accepted = new HashSet<>(BlockDrivers.KEYS.get(driver.format()));
            accepted.add("driver");
            bo.checkAllUsed("driver '" + driver.format() + "'", accepted);
        } catch (IllegalArgumentException e) {
            closeQuietly(driver);
            throw e;
        }

        List<IOThread> threads = new ArrayList<>();
        AioContext main = new AioContext("vhost-user-blk-main");
        VhostUserBlkExport x = null;
        CountDownLatch done = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            stopping = true;
            main.aioNotify();
            try {
                done.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "mqb-serve-shutdown");
        try {
            for (String id : ids) {
                threads.add(IOThread.start(id, pin.equals("on") ? IOThread.ANY_CPU : IOThread.UNPINNED,
                        PollWindow.DEFAULT_MAX_NS, EpollMonitor.FACTORY));
            }
            BlockDriver d = driver;
            driver = null; // the export owns it now, also if it fails to start
            x = VhostUserBlkExport.start(options, d, threads, System.err::println, VhostUserBlkExport.traceByDefault());
            Runtime.getRuntime().addShutdownHook(hook);
            System.out.println("mqb serve: vhost-user-blk export '" + options.id() + "', " + x.device().node().length()
                    + " bytes, " + backend + ", " + options.numQueues() + " virtqueue(s), "
                    + (options.writable() ? "writable" : "read-only") + ", " + options.logicalBlockSize() + "-byte blocks");
            for (int t = 0; t < threads.size(); t++) {
                List<Integer> vqs = new ArrayList<>();
                for (int q = 0; q < options.numQueues(); q++) {
                    if (mapping.iothreadOf(q) == t) {
                        vqs.add(q);
                    }
                }
                System.out.println("  " + threads.get(t).info() + " virtqueues " + vqs);
            }
            System.out.println("  listening: vhost-user " + options.socketPath());
            System.out.println("mqb serve: ready (SIGINT or SIGTERM stops it)");
            System.out.flush();
            VhostUserBlkExport served = x;
            waitForStop(main, () -> runFrontEnds > 0 && served.acceptedCount() >= runFrontEnds && !served.serving());
            System.out.println("mqb serve: stopping: ending the session, then draining and flushing the device");
        } finally {
            try {
                if (driver != null) {
                    closeQuietly(driver);
                }
                if (x != null) {
                    x.close(); // ends the session (its rings drain), closes the device, removes the socket
                    System.out.println("mqb serve: " + x.acceptedCount() + " front-end(s) served");
                }
                for (IOThread t : threads) {
                    t.close();
                }
                main.close();
                System.out.println("mqb serve: stopped");
                System.out.flush();
            } finally {
                done.countDown();
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException ignored) {
                    // the hook is what stopped us: the JVM is already shutting down
                }
            }
        }
    }

    /**
     * Runs the main loop until the shutdown hook or the --run-seconds timer says stop, or {@code
     * done} (looked at every 50 ms when given) holds.
     */
    private void waitForStop(AioContext main, BooleanSupplier done) {
        main.acquire();
        try {
            if (runSeconds > 0) {
                main.newTimer("run-seconds", () -> stopping = true).armAfter((long) (runSeconds * 1e9));
            }
            if (done != null) {
                Timer[] check = new Timer[1];
                check[0] = main.newTimer("done-check", () -> {
                    if (done.getAsBoolean()) {
                        stopping = true;
                    } else {
                        check[0].armAfter(TimeUnit.MILLISECONDS.toNanos(50));
                    }
                });
                check[0].armAfter(TimeUnit.MILLISECONDS.toNanos(50));
            }
        } finally {
            main.release();
        }
        while (!stopping) {
            main.poll(true);
        }
    }

    private static void closeQuietly(BlockDriver d) {
        try {
            d.close();
        } catch (IOException | RuntimeException ignored) {
            // nothing was served from it
        }
    }

    private static int defaultIOThreads() {
        int cpus = Runtime.getRuntime().availableProcessors();
        return cpus <= 2 ? 1 : cpus / 2;
    }

    private String host(String hostPort) {
        int i = hostPort.lastIndexOf(':');
        if (i <= 0) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--tcp wants HOST:PORT, got '" + hostPort + "'");
        }
        return hostPort.substring(0, i);
    }

    private int port(String hostPort) {
        try {
            int p = Integer.parseInt(hostPort.substring(hostPort.lastIndexOf(':') + 1));
            if (p < 0 || p > 65535) {
                throw new NumberFormatException();
            }
            return p;
        } catch (NumberFormatException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--tcp port must be 0..65535, got '" + hostPort + "'");
        }
    }
}
