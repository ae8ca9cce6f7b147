package org.mqblock.vhost;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * qemu-storage-daemon serving one vhost-user-blk export, for tests: started with a blockdev, its
 * socket awaited, stopped and its files removed on close. Tests that need it are skipped, with the
 * reason said, where the binary is absent.
 */
final class QemuStorageDaemon implements AutoCloseable {

    static final String BINARY = "qemu-storage-daemon";

    private final Process process;
    private final Path dir;
    private final Path socket;
    private final Path log;

    private QemuStorageDaemon(Process process, Path dir, Path socket, Path log) {
        this.process = process;
        this.dir = dir;
        this.socket = socket;
        this.log = log;
    }

    /** Skips the calling test unless qemu-storage-daemon is on the PATH. */
    static void assumeInstalled() {
        Assumptions.assumeTrue(which(BINARY) != null, BINARY + " is not installed (Debian: apt-get install"
                + " qemu-system-common); the tests against QEMU's vhost-user-blk export need it");
    }

    static Path which(String name) {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
            Path p = Path.of(d, name);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    /** A null-co disk of {@code size} bytes; reads leave buffers untouched unless {@code readZeroes}. */
    static QemuStorageDaemon nullCo(long size, boolean readZeroes, int queues) throws IOException {
        return start("driver=null-co,node-name=disk0,size=" + size + ",read-zeroes=" + (readZeroes ? "on" : "off"), queues);
    }

    /** A raw file node over {@code image} (which must exist with its size), with {@code aio} threads or io_uring. */
    static QemuStorageDaemon file(Path image, String aio, int queues) throws IOException {
        return start("driver=file,node-name=disk0,filename=" + image + ",aio=" + aio, queues);
    }

    static QemuStorageDaemon start(String blockdev, int queues) throws IOException {
        Path dir = Files.createTempDirectory("mqb-qsd-");
        Path socket = dir.resolve("vhost.sock");
        Path log = dir.resolve("qsd.log");
        List<String> cmd = new ArrayList<>(List.of(BINARY, "--blockdev", blockdev, "--export",
                "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=" + socket
                        + ",writable=on,num-queues=" + queues));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        QemuStorageDaemon d = new QemuStorageDaemon(p, dir, socket, log);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!Files.exists(socket)) {
            if (!p.isAlive() || System.nanoTime() > deadline) {
                String out = d.log();
                d.close();
                throw new IOException("qemu-storage-daemon did not listen on " + socket + " (" + String.join(" ", cmd)
                        + "): " + out);
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted", e);
            }
        }
        return d;
    }

    Path socket() {
        return socket;
    }

    long pid() {
        return process.pid();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    String log() {
        try {
            return Files.exists(log) ? Files.readString(log) : "";
        } catch (IOException e) {
            return "(log unreadable: " + e.getMessage() + ")";
        }
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try (var s = Files.walk(dir)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (IOException ignored) {
            // a temporary directory left behind
        }
    }
}
