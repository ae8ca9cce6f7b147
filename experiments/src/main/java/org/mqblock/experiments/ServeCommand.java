package org.mqblock.experiments;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.mqblock.block.BlockBackend;
import org.mqblock.block.BlockOptions;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.IOThread;
import org.mqblock.nbd.NbdExport;
import org.mqblock.nbd.NbdServer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code mqb serve}: exports a block device over NBD in the foreground until SIGINT or SIGTERM.
 *
 * <p>The calling thread is the main loop: it accepts clients (its own {@link AioContext}) and,
 * at shutdown, stops accepting, lets connections finish what they have in flight, then closes
 * the node, which drains it and flushes the driver. Connections live on {@code --iothreads}
 * IOThreads; unless the backend options name {@code queues}, the node gets 8 queues per
 * IOThread, so the first {@code 8 x iothreads} connections each have a queue of their own.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve a block device over NBD (newstyle, multi-conn) until SIGINT/SIGTERM.")
final class ServeCommand implements Runnable {

    private static final int QUEUES_PER_IOTHREAD = 8;

    @Option(names = "--backend", defaultValue = "driver=memory,size=1G", paramLabel = "OPTIONS",
            description = "Block backend options (default: ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--export", defaultValue = "disk", paramLabel = "NAME",
            description = "Export name (default: ${DEFAULT-VALUE}; clients asking for \"\" get it too).")
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

    @Option(names = "--pin", defaultValue = "on", paramLabel = "on|off",
            description = "Pin IOThreads to CPUs with Chronicle Affinity (default: ${DEFAULT-VALUE}).")
    String pin;

    @Option(names = "--run-seconds", hidden = true, defaultValue = "0",
            description = "Stop by itself after this long (tests).")
    double runSeconds;

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
        String tcpHost = tcp.equals("none") ? null : host(tcp);
        int tcpPort = tcp.equals("none") ? 0 : port(tcp);
        if (tcpHost == null && unix == null) {
            throw new CommandLine.ParameterException(spec.commandLine(), "nothing to listen on: give --tcp or --unix");
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
            server = NbdServer.start(List.of(e), main, ctxs, System.err::println);
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

            if (runSeconds > 0) {
                main.acquire();
                try {
                    main.newTimer("run-seconds", () -> stopping = true).armAfter((long) (runSeconds * 1e9));
                } finally {
                    main.release();
                }
            }
            while (!stopping) {
                main.poll(true);
            }
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
