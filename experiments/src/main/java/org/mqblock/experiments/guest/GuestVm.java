package org.mqblock.experiments.guest;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One real Linux guest under QEMU (TCG): boots the {@link GuestImage}'s kernel and initramfs with
 * a test script appended, on the given {@link GuestDisk}s, and returns what the test printed
 * between the markers of scripts/guest/init as a {@link GuestRun}.
 *
 * <p>The guest RAM is a memfd shared with other processes ({@code memory-backend-memfd,share=on}),
 * which vhost-user needs, for every kind of disk alike. The console is QEMU's stdio, read line by
 * line as it comes: the harness sees each {@code MQB-MARK} while the guest runs, and calls the
 * {@link MarkListener} there (CPU counters are sampled at the guest's own start and end of a
 * measurement, not at boot and poweroff).
 *
 * <p>Never a hang: {@link #run()} kills QEMU at the timeout (boot included) and throws a
 * {@link GuestException} with the console's tail; a guest that reported its status but did not
 * power off within {@link #POWEROFF_GRACE} is killed too. QEMU is dead when {@code run} returns or
 * throws.
 *
 * <p>Not threadsafe: one {@code run} at a time per instance; instances are independent.
 */
public final class GuestVm {

    /** After the status line, how long the guest has to power off before it is killed. */
    static final Duration POWEROFF_GRACE = Duration.ofSeconds(15);
    /** Console lines kept for the tail of an error. */
    static final int TAIL_LINES = 60;

    private static final Pattern MARKER = Pattern.compile("=== MQB-([A-Z]+)(?: (.*?))? ===");

    /** Called on the console thread when the guest prints {@code MQB-MARK name}; keep it short. */
    @FunctionalInterface
    public interface MarkListener {
        void onMark(String name, long qemuPid);
    }

    private final GuestImage image;
    private final List<GuestDisk> disks;
    private final int cpus;
    private final int memoryMiB;
    private final String script;
    private final Duration timeout;
    private final Path workDir;
    private final MarkListener listener;
    private final String qemu;
    private final String name;

    private GuestVm(Builder b) {
        this.image = Objects.requireNonNull(b.image, "image");
        this.disks = List.copyOf(b.disks);
        this.cpus = b.cpus;
        this.memoryMiB = b.memoryMiB;
        this.script = Objects.requireNonNull(b.script, "script");
        this.timeout = Objects.requireNonNull(b.timeout, "timeout");
        this.workDir = Objects.requireNonNull(b.workDir, "workDir");
        this.listener = b.listener;
        this.qemu = b.qemu;
        this.name = b.name;
        if (cpus < 1 || cpus > 64) {
            throw new IllegalArgumentException("cpus must be 1..64, got " + cpus);
        }
        if (memoryMiB < 256) {
            throw new IllegalArgumentException("the guest needs at least 256 MiB (its initramfs alone is ~90 MiB), got "
                    + memoryMiB);
        }
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout must be positive, got " + timeout);
        }
        if (!name.matches("[A-Za-z0-9._-]+")) {
            throw new IllegalArgumentException("name must be letters, digits, '.', '_' or '-', got '" + name + "'");
        }
        for (GuestDisk d : disks) {
            if (d.queues() > cpus) {
                // virtio_blk makes min(num-queues, nr_cpu_ids) queues: more would be invisible
                throw new IllegalArgumentException(d.describe() + ": " + d.queues() + " queues need at least as many"
                        + " guest CPUs, got " + cpus + " (Linux's virtio_blk uses at most one queue per CPU)");
            }
        }
    }

    public static Builder builder(GuestImage image) {
        return new Builder(image);
    }

    /** The QEMU command line this guest runs (initrd: the per-run archive in the work directory). */
    public List<String> command(Path initrd) {
        List<String> c = new ArrayList<>(List.of(qemu,
                "-name", name + ",debug-threads=on",
                "-nodefaults", "-no-user-config", "-no-reboot",
                "-machine", "pc", "-accel", "tcg,thread=multi", "-cpu", "max",
                "-smp", Integer.toString(cpus), "-m", memoryMiB + "M",
                "-object", "memory-backend-memfd,id=mem,size=" + memoryMiB + "M,share=on",
                "-numa", "node,memdev=mem",
                "-kernel", image.vmlinux().toString(),
                "-initrd", initrd.toString(),
                "-append", "console=ttyS0 quiet panic=-1 mqb.disks=" + disks.size(),
                "-display", "none", "-monitor", "none",
                "-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0"));
        for (int i = 0; i < disks.size(); i++) {
            c.addAll(disks.get(i).qemuArgs(i));
        }
        return c;
    }

    /**
     * Boots the guest, runs its test, and returns what it reported (whatever its exit status:
     * see {@link GuestRun#ok()}).
     *
     * <p>Context: any thread; blocks for the guest's lifetime, at most the timeout plus
     * {@link #POWEROFF_GRACE}.
     *
     * @throws GuestException QEMU did not start, exited before the status, or ran past the timeout
     */
    public GuestRun run() throws IOException {
        Files.createDirectories(workDir);
        Path initrd = workDir.resolve(name + "-initrd.cpio");
        Path console = workDir.resolve(name + "-console.log");
        writeInitrd(initrd);
        List<String> command = command(initrd);
        Files.writeString(workDir.resolve(name + "-qemu.cmd"), String.join(" ", command) + "\n");
        Console con = new Console(console);
        Process p = null;
        long t0 = System.nanoTime();
        try {
            try {
                p = new ProcessBuilder(command).redirectErrorStream(true)
                        .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            } catch (IOException e) {
                throw new GuestException("cannot start " + qemu + ": " + e.getMessage(), "");
            }
            long pid = p.pid();
            Process qemuProcess = p;
            Thread reader = Thread.ofPlatform().daemon().name("guest-console-" + name)
                    .start(() -> con.read(qemuProcess, listener, pid, t0));
            long deadline = t0 + timeout.toNanos();
            boolean reported = awaitStatus(con, p, deadline);
            if (!reported) {
                if (p.isAlive()) {
                    Scripts.kill(p);
                    reader.join(5_000);
                    throw new GuestException("the guest did not finish within " + timeout.toSeconds()
                            + " s (boot included) and was killed; console: " + console, con.tail());
                }
                reader.join(5_000);
                throw new GuestException("QEMU exited with status " + p.exitValue()
                        + " before the guest reported its status; console: " + console, con.tail());
            }
            boolean poweredOff = p.waitFor(POWEROFF_GRACE.toMillis(), TimeUnit.MILLISECONDS);
            if (!poweredOff) {
                Scripts.kill(p);
            }
            p.waitFor(5, TimeUnit.SECONDS);
            long t1 = System.nanoTime();
            reader.join(5_000);
            return new GuestRun(con.status, con.sections, con.marks, con.errors, console,
                    con.initNanos == 0 ? Double.NaN : (con.initNanos - t0) / 1e9,
                    con.readyNanos == 0 ? Double.NaN : (con.readyNanos - t0) / 1e9, (t1 - t0) / 1e9, poweredOff,
                    command);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new GuestException("interrupted while the guest ran; console: " + console, con.tail());
        } finally {
            if (p != null) {
                Scripts.kill(p);
            }
            Files.deleteIfExists(initrd);
        }
    }

    /** Waits for the status line, QEMU's exit or the deadline; true when the status came. */
    private static boolean awaitStatus(Console con, Process p, long deadline) throws InterruptedException {
        while (true) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return con.statusSeen.getCount() == 0;
            }
            if (con.statusSeen.await(Math.min(left, TimeUnit.MILLISECONDS.toNanos(200)), TimeUnit.NANOSECONDS)) {
                return true;
            }
            if (!p.isAlive()) {
                // the reader may still be taking in the last lines QEMU wrote before exiting
                return con.statusSeen.await(2, TimeUnit.SECONDS);
            }
        }
    }

    /** The base initramfs followed by an archive holding /test.sh: the kernel unpacks both. */
    private void writeInitrd(Path initrd) throws IOException {
        byte[] test = new Cpio().file("test.sh", 0755, script.getBytes(StandardCharsets.UTF_8)).finish();
        Files.copy(image.initramfs(), initrd, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        try (OutputStream out = Files.newOutputStream(initrd, StandardOpenOption.APPEND)) {
            out.write(test);
        }
    }

    /**
     * The console as it streams in: written to the log file line by line, markers parsed.
     * Written by the reader thread; read by {@link #run} after {@code statusSeen} opens or the
     * reader has been joined (the latch and the join give the happens-before).
     */
    private static final class Console {
        final Path log;
        final CountDownLatch statusSeen = new CountDownLatch(1);
        final Map<String, String> sections = new LinkedHashMap<>();
        final List<GuestRun.Mark> marks = new ArrayList<>();
        final List<String> errors = new ArrayList<>();
        /** The last lines, for errors; guarded by itself (the main thread reads it on failure). */
        private final Deque<String> tail = new ArrayDeque<>();
        int status = -1;
        long initNanos;
        long readyNanos;
        private String open;
        private StringBuilder body;

        Console(Path log) {
            this.log = log;
        }

        void read(Process p, MarkListener listener, long pid, long t0) {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
                 Writer w = Files.newBufferedWriter(log)) {
                String line;
                while ((line = in.readLine()) != null) {
                    line = line.replace("\r", "");
                    w.write(String.format(Locale.ROOT, "[%8.3f] %s%n", (System.nanoTime() - t0) / 1e9, line));
                    w.flush();
                    synchronized (tail) {
                        tail.addLast(line);
                        if (tail.size() > TAIL_LINES) {
                            tail.removeFirst();
                        }
                    }
                    line(line, listener, pid);
                }
            } catch (IOException e) {
                synchronized (tail) {
                    tail.addLast("(harness: reading the console failed: " + e + ")");
                }
            }
        }

        private void line(String line, MarkListener listener, long pid) {
            Matcher m = MARKER.matcher(line.trim());
            if (!m.matches()) {
                if (open != null) {
                    body.append(line).append('\n');
                }
                return;
            }
            String arg = m.group(2) == null ? "" : m.group(2);
            switch (m.group(1)) {
                case "INIT" -> initNanos = System.nanoTime();
                case "READY" -> readyNanos = System.nanoTime();
                case "BEGIN" -> {
                    open = arg;
                    body = new StringBuilder();
                }
                case "END" -> {
                    if (open != null && open.equals(arg)) {
                        sections.put(open, body.toString());
                    } else {
                        errors.add("section end '" + arg + "' without its begin");
                    }
                    open = null;
                }
                case "MARK" -> {
                    long now = System.nanoTime();
                    String[] f = arg.split(" ");
                    if (listener != null) {
                        listener.onMark(f[0], pid);
                    }
                    marks.add(new GuestRun.Mark(f[0], now, f.length > 1 ? parseDouble(f[1]) : Double.NaN));
                }
                case "ERROR" -> errors.add(arg);
                case "STATUS" -> {
                    try {
                        status = Integer.parseInt(arg.trim());
                    } catch (NumberFormatException e) {
                        errors.add("unreadable status '" + arg + "'");
                    }
                    statusSeen.countDown();
                }
                default -> {
                    if (open != null) {
                        body.append(line).append('\n');
                    }
                }
            }
        }

        private static double parseDouble(String s) {
            try {
                return Double.parseDouble(s);
            } catch (NumberFormatException e) {
                return Double.NaN;
            }
        }

        String tail() {
            synchronized (tail) {
                return String.join("\n", tail);
            }
        }
    }

    /** Builds a {@link GuestVm}; every setting is checked when {@link #build()} makes it. */
    public static final class Builder {
        private final GuestImage image;
        private final List<GuestDisk> disks = new ArrayList<>();
        private int cpus = 2;
        private int memoryMiB = 512;
        private String script;
        private Duration timeout = Duration.ofMinutes(3);
        private Path workDir;
        private MarkListener listener;
        private String qemu = "qemu-system-x86_64";
        private String name = "guest";

        private Builder(GuestImage image) {
            this.image = image;
        }

        public Builder disk(GuestDisk d) {
            disks.add(Objects.requireNonNull(d));
            return this;
        }

        /** Guest CPUs (default 2); at least each disk's queue count. */
        public Builder cpus(int n) {
            this.cpus = n;
            return this;
        }

        public Builder memoryMiB(int m) {
            this.memoryMiB = m;
            return this;
        }

        /** The test: shell run by /init with /lib/mqb.sh sourced (see scripts/guest/init). */
        public Builder script(String s) {
            this.script = s;
            return this;
        }

        /** For the whole boot: QEMU start to the status line (default 3 minutes). */
        public Builder timeout(Duration t) {
            this.timeout = t;
            return this;
        }

        /** Where the console log, the QEMU command and the per-run initrd go. */
        public Builder workDir(Path dir) {
            this.workDir = dir;
            return this;
        }

        public Builder onMark(MarkListener l) {
            this.listener = l;
            return this;
        }

        /** The QEMU binary (default: qemu-system-x86_64 on the PATH). */
        public Builder qemu(String binary) {
            this.qemu = binary;
            return this;
        }

        /** Names the QEMU process and the files in the work directory (default "guest"). */
        public Builder name(String n) {
            this.name = n;
            return this;
        }

        public GuestVm build() {
            return new GuestVm(this);
        }
    }
}
