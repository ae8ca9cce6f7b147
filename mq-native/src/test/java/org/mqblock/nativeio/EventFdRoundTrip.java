package org.mqblock.nativeio;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

/**
 * A measurement, not a test: the eventfd wakeup round trip. One side writes "ping" and blocks
 * reading "pong"; the echo side blocks reading "ping" and writes "pong". Each round trip is two
 * wakeups of a thread asleep in read(2). Run between two threads of this JVM, and between this
 * JVM and a second one it starts with {@code ProcessBuilder}, which gets the two eventfds over a
 * Unix socket (SCM_RIGHTS). Prints the count, p50, p99, p99.9 and max in microseconds.
 *
 * <pre>
 * mvn -B -ntp -o -pl mq-native -am test-compile
 * java --enable-native-access=ALL-UNNAMED \
 *   -cp mq-native/target/classes:mq-native/target/test-classes:mq-core/target/classes \
 *   org.mqblock.nativeio.EventFdRoundTrip [threads|processes|both] [round trips, default 100000]
 * </pre>
 */
public final class EventFdRoundTrip {

    private static final int WARMUP = 10_000;

    private EventFdRoundTrip() {}

    public static void main(String[] args) throws Exception {
        if (args.length == 2 && args[0].equals("--echo")) {
            echoProcess(Path.of(args[1]));
            return;
        }
        String mode = args.length > 0 ? args[0] : "both";
        int count = args.length > 1 ? Integer.parseInt(args[1]) : 100_000;
        System.out.printf("eventfd round trip: %d round trips after %d warm-up; %s %s, %d CPUs, Linux %s%n",
                count, WARMUP, System.getProperty("java.vm.name"), System.getProperty("java.version"),
                Runtime.getRuntime().availableProcessors(), System.getProperty("os.version"));
        if (mode.equals("threads") || mode.equals("both")) {
            report("threads", betweenThreads(count));
        }
        if (mode.equals("processes") || mode.equals("both")) {
            report("processes", betweenProcesses(count));
        }
    }

    private static long[] betweenThreads(int count) throws InterruptedException {
        try (EventFd ping = EventFd.create(EventFd.EFD_CLOEXEC); EventFd pong = EventFd.create(EventFd.EFD_CLOEXEC)) {
            int total = WARMUP + count;
            Thread echo = new Thread(() -> echo(ping, pong, total), "echo");
            echo.setDaemon(true);
            echo.start();
            long[] samples = drive(ping, pong, count);
            echo.join();
            return samples;
        }
    }

    private static long[] betweenProcesses(int count) throws Exception {
        Path dir = Files.createTempDirectory("mqb-roundtrip");
        Path path = dir.resolve("s");
        int total = WARMUP + count;
        try (EventFd ping = EventFd.create(EventFd.EFD_CLOEXEC); EventFd pong = EventFd.create(EventFd.EFD_CLOEXEC);
             UnixSocket listener = UnixSocket.listen(path, 1); Arena arena = Arena.ofConfined()) {
            Process child = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                    EventFdRoundTrip.class.getName(), "--echo", path.toString())
                    .inheritIO().start();
            try {
                listener.setNonBlocking(true);
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                UnixSocket conn;
                while ((conn = listener.accept()) == null) {
                    if (!child.isAlive() || System.nanoTime() > deadline) {
                        throw new IllegalStateException("echo process did not connect (alive: " + child.isAlive() + ")");
                    }
                    Thread.sleep(5);
                }
                try (UnixSocket c = conn) {
                    MemorySegment msg = arena.allocate(8);
                    msg.set(JAVA_LONG, 0, total);
                    if (c.sendMsg(msg, ping.fd(), pong.fd()) != 8) {
                        throw new IllegalStateException("short send of the set-up message");
                    }
                    long[] samples = drive(ping, pong, count);
                    if (!child.waitFor(60, TimeUnit.SECONDS) || child.exitValue() != 0) {
                        throw new IllegalStateException("echo process failed");
                    }
                    return samples;
                }
            } finally {
                child.destroy();
            }
        } finally {
            Files.deleteIfExists(path);
            Files.deleteIfExists(dir);
        }
    }

    /** The second JVM: gets the eventfds and the count, echoes, exits. */
    private static void echoProcess(Path path) {
        try (UnixSocket s = UnixSocket.connect(path); Arena arena = Arena.ofConfined()) {
            MemorySegment msg = arena.allocate(8);
            int[] fds = new int[2];
            UnixSocket.Received r = s.recvMsg(msg, fds);
            if (r.bytes() != 8 || r.fds() != 2) {
                throw new IllegalStateException("bad set-up message: " + r);
            }
            try (EventFd ping = EventFd.adopt(fds[0]); EventFd pong = EventFd.adopt(fds[1])) {
                echo(ping, pong, (int) msg.get(JAVA_LONG, 0));
            }
        }
    }

    private static void echo(EventFd ping, EventFd pong, int total) {
        for (int i = 0; i < total; i++) {
            ping.read();
            pong.write(1);
        }
    }

    private static long[] drive(EventFd ping, EventFd pong, int count) {
        long[] samples = new long[count];
        for (int i = 0; i < WARMUP + count; i++) {
            long t0 = System.nanoTime();
            ping.write(1);
            pong.read();
            long t1 = System.nanoTime();
            if (i >= WARMUP) {
                samples[i - WARMUP] = t1 - t0;
            }
        }
        return samples;
    }

    private static void report(String what, long[] samples) {
        long[] s = samples.clone();
        Arrays.sort(s);
        System.out.printf("%-9s n=%d  p50=%.1f us  p99=%.1f us  p99.9=%.1f us  max=%.1f us%n", what, s.length,
                at(s, 0.50) / 1e3, at(s, 0.99) / 1e3, at(s, 0.999) / 1e3, s[s.length - 1] / 1e3);
    }

    private static long at(long[] sorted, double q) {
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(q * sorted.length) - 1)];
    }
}
