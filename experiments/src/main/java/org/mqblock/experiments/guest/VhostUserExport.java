package org.mqblock.experiments.guest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.mqblock.experiments.Mqb;
import picocli.CommandLine;

/**
 * A vhost-user-blk backend in a process of its own, listening on a Unix socket that QEMU's
 * {@code vhost-user-blk-pci} connects to: qemu-storage-daemon ({@link #qsd}) or our
 * {@code mqb serve --export vhost-user-blk} ({@link #mqb}). It serves one guest at a time, and
 * the next one after the first disconnects.
 *
 * <p>{@link #close()} stops it with SIGTERM (both flush and close the image then), and kills it
 * after {@link #STOP_GRACE}; it is dead when {@code close} returns.
 *
 * <p>Not threadsafe, except {@link #cpuTicks()}, which any thread may call.
 */
public final class VhostUserExport implements AutoCloseable {

    /** How long a backend has to create its socket. A JVM under load takes a few seconds. */
    static final Duration START_TIMEOUT = Duration.ofSeconds(60);
    static final Duration STOP_GRACE = Duration.ofSeconds(20);

    /** The flags every JVM running mqb gets (scripts/jdk.sh's mqb_java_flags). */
    static final List<String> JVM_FLAGS =
            List.of("--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow");

    private final String kind;
    private final Process process;
    private final Path socket;
    private final Path log;
    private final List<String> command;
    private final int queues;
    private int exitStatus = Integer.MIN_VALUE;

    private VhostUserExport(String kind, Process process, Path socket, Path log, List<String> command, int queues) {
        this.kind = kind;
        this.process = process;
        this.socket = socket;
        this.log = log;
        this.command = List.copyOf(command);
        this.queues = queues;
    }

    /**
     * The qemu-storage-daemon command line for a raw image exported over vhost-user-blk, with the
     * export's virtqueues on one IOThread ({@code iothread=}; QEMU 7.2 has no per-queue mapping).
     */
    public static List<String> qsdCommand(Path image, Path socket, int queues, GuestDisk.Aio aio, boolean direct) {
        return List.of("qemu-storage-daemon",
                "--blockdev", "driver=file,node-name=file0,filename=" + image + ",aio=" + aio.qemuName()
                        + ",cache.direct=" + (direct ? "on" : "off"),
                "--blockdev", "driver=raw,node-name=disk0,file=file0",
                "--object", "iothread,id=iot0",
                "--export", "type=vhost-user-blk,id=e0,node-name=disk0,addr.type=unix,addr.path=" + socket
                        + ",num-queues=" + queues + ",writable=on,logical-block-size=512,iothread=iot0");
    }

    /** Starts qemu-storage-daemon ({@link #qsdCommand}); returns once its socket exists. */
    public static VhostUserExport qsd(Path image, Path socket, int queues, GuestDisk.Aio aio, boolean direct, Path log)
            throws IOException {
        return start("qsd", qsdCommand(image, socket, queues, aio, direct), socket, log, queues, null);
    }

    /**
     * The {@code mqb serve} command line for our export: this JVM's java and class path, so tests
     * (target/classes) and mqb.jar alike start the code they were built from.
     *
     * @param backend block backend options, e.g. {@code driver=file,filename=IMG}
     * @param iothreads IOThreads the virtqueues are spread over (round-robin)
     */
    public static List<String> mqbCommand(String backend, Path socket, int queues, int iothreads, List<String> extra) {
        List<String> c = new ArrayList<>();
        c.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        c.addAll(JVM_FLAGS);
        c.addAll(List.of("-cp", System.getProperty("java.class.path"), "org.mqblock.experiments.Mqb", "serve",
                "--backend", backend,
                "--export", "vhost-user-blk,addr.path=" + socket + ",num-queues=" + queues
                        + ",writable=on,logical-block-size=512,iothread-vq-mapping=round-robin",
                "--iothreads", Integer.toString(iothreads)));
        c.addAll(extra);
        return c;
    }

    /**
     * Starts our export ({@link #mqbCommand}); returns once its socket exists.
     *
     * @throws IOException with a clear message when this build's {@code mqb serve} has no
     *     vhost-user-blk export ({@link #mqbAvailable()}), or it exits, or makes no socket in time
     */
    public static VhostUserExport mqb(String backend, Path socket, int queues, int iothreads, List<String> extra,
            Path log) throws IOException {
        String why = mqbUnavailableReason();
        if (why != null) {
            throw new IOException(why);
        }
        return start("mqb", mqbCommand(backend, socket, queues, iothreads, extra), socket, log, queues,
                "listening: nbd");
    }

    /** Whether this build's {@code mqb serve} offers {@code --export vhost-user-blk}. */
    public static boolean mqbAvailable() {
        return mqbUnavailableReason() == null;
    }

    /**
     * Why our export cannot be started from this build, or null when it can: {@code mqb serve
     * --help} must mention vhost-user-blk (until issue 13's export lands, serve is NBD only and
     * would take "vhost-user-blk,..." for an NBD export name).
     */
    public static String mqbUnavailableReason() {
        CommandLine serve = Mqb.commandLine().getSubcommands().get("serve");
        String help = serve == null ? "" : serve.getUsageMessage();
        if (!help.contains("vhost-user-blk")) {
            return "this build's 'mqb serve' has no vhost-user-blk export yet ('mqb serve --help' does not mention"
                    + " vhost-user-blk; issue 13's export has not landed on this branch), so the 'mqb' backend cannot"
                    + " be started";
        }
        return null;
    }

    private static VhostUserExport start(String kind, List<String> command, Path socket, Path log, int queues,
            String wrongProtocolLine) throws IOException {
        Files.deleteIfExists(socket);
        Files.createDirectories(log.toAbsolutePath().getParent());
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        VhostUserExport e = new VhostUserExport(kind, p, socket, log, command, queues);
        boolean ok = false;
        try {
            long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
            while (!Files.exists(socket)) {
                if (!p.isAlive()) {
                    throw new IOException(kind + " exited with status " + p.exitValue() + " before creating " + socket
                            + ":\n" + e.logTail());
                }
                if (wrongProtocolLine != null && Files.readString(log).contains(wrongProtocolLine)) {
                    throw new IOException(kind + " started an NBD server instead of a vhost-user-blk export (is issue"
                            + " 13's export in this build?):\n" + e.logTail());
                }
                if (System.nanoTime() > deadline) {
                    throw new IOException(kind + " made no socket " + socket + " within " + START_TIMEOUT.toSeconds()
                            + " s:\n" + e.logTail());
                }
                Thread.sleep(20);
            }
            ok = true;
            return e;
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while starting " + kind, ie);
        } finally {
            if (!ok) {
                e.close();
            }
        }
    }

    public String kind() {
        return kind;
    }

    public Path socket() {
        return socket;
    }

    public long pid() {
        return process.pid();
    }

    public List<String> command() {
        return command;
    }

    public Path log() {
        return log;
    }

    /** The disk a guest gets from this export. */
    public GuestDisk.VhostUser disk() {
        return new GuestDisk.VhostUser(socket, queues);
    }

    /** Whether the backend still runs (it should, between guests). */
    public boolean alive() {
        return process.isAlive();
    }

    /**
     * utime + stime of the whole backend process, in ticks (all its threads, the exited ones
     * too: for the JVM that includes the JIT and the GC).
     *
     * <p>Context: any thread.
     */
    public long cpuTicks() {
        return ProcStat.processTicks(process.pid());
    }

    /** The last lines of the backend's log. */
    public String logTail() {
        try {
            List<String> lines = Files.readAllLines(log);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        } catch (IOException | RuntimeException e) {
            return "(no log: " + e + ")";
        }
    }

    /** The exit status after {@link #close()} (143 or 0 for a SIGTERM stop, 137 when killed). */
    public int exitStatus() {
        return exitStatus;
    }

    /** SIGTERM, then SIGKILL after {@link #STOP_GRACE}; idempotent. Context: the thread that started it. */
    @Override
    public void close() {
        if (exitStatus != Integer.MIN_VALUE) {
            return;
        }
        try {
            process.destroy();
            if (!process.waitFor(STOP_GRACE.toMillis(), TimeUnit.MILLISECONDS)) {
                Scripts.kill(process);
                process.waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            Scripts.kill(process);
        } finally {
            closeQuietly(process.getOutputStream());
            closeQuietly(process.getInputStream());
            exitStatus = process.isAlive() ? -1 : process.exitValue();
            try {
                Files.deleteIfExists(socket);
            } catch (IOException ignored) {
                // a stale socket is replaced by the next start
            }
        }
    }

    private static void closeQuietly(java.io.Closeable c) {
        try {
            c.close();
        } catch (IOException ignored) {
            // nothing to do: the process is gone
        }
    }
}
