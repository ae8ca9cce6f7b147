package org.mqblock.experiments.guest;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.ToDoubleFunction;
import java.util.regex.Pattern;
import org.mqblock.experiments.JsonOut;
import org.mqblock.experiments.MachineInfo;

/**
 * {@code mqb guest}: the same guest, booted again and again, runs the same fio job on a virtio-blk
 * disk served by each backend in turn (A B C A B C ...): our vhost-user-blk export, the one of
 * qemu-storage-daemon, and QEMU's in-process virtio-blk. Each backend gets its own raw image of
 * the same size and content; the two export processes run for the whole bench (warm from the
 * second repetition on, and their CPU counters cover exactly the measured window).
 *
 * <p>Per run it records the guest's fio IOPS and p99, the requests the guest's disk completed in
 * the measured window (its {@code /sys/block/vda/stat}, read just before and after fio), and the
 * CPU time spent in that window, sampled when the guest marks its start and end:
 * <ul>
 *   <li>backend: the export process, all its threads ({@code /proc/PID/stat}); for in-process
 *       virtio-blk, QEMU's IOThread and thread-pool threads ({@code "IO iot0"}, {@code "worker"},
 *       from {@code /proc/PID/task/TID/stat});
 *   <li>qemu vCPU: QEMU's TCG vCPU threads ({@code "CPU n/TCG"}), the guest itself (fio, its
 *       kernel, its virtio_blk driver) under emulation;
 *   <li>qemu other: the rest of QEMU (main loop: under TCG, vhost-user interrupts pass through it),
 *       the backend threads of the in-process case excluded.
 * </ul>
 * Every figure is divided by the requests completed in the window.
 *
 * <p>Context: the calling thread runs the bench; not threadsafe.
 */
public final class GuestBench {

    /** The three ways of serving the guest's disk. */
    public enum Kind {
        MQB("mqb"), QSD("qsd"), VIRTIO_BLK("virtio-blk");

        public final String label;

        Kind(String label) {
            this.label = label;
        }

        public static Kind parse(String s) {
            for (Kind k : values()) {
                if (k.label.equals(s.trim().toLowerCase(Locale.ROOT))) {
                    return k;
                }
            }
            throw new IllegalArgumentException("unknown backend '" + s + "' (mqb, qsd, virtio-blk)");
        }
    }

    /** fio options the guest's job starts from; {@link Config#job} adds to and overrides them. */
    public static final Map<String, String> DEFAULT_JOB = defaultJob();

    private static final Pattern JOB_KEY = Pattern.compile("[a-z][a-z0-9_]*");
    private static final Pattern JOB_VALUE = Pattern.compile("[A-Za-z0-9_./:%+-]*");

    /**
     * One bench, validated when built.
     *
     * @param backends in the order each repetition boots them
     * @param queues virtqueues of the disk (and blk-mq queues in the guest)
     * @param cpus guest CPUs, at least {@code queues}
     * @param iothreads our export's IOThreads (round-robin over the virtqueues)
     * @param job fio options over {@link #DEFAULT_JOB} (key to value; an empty value: a bare flag)
     * @param repeat repetitions of the whole rotation
     * @param sizeBytes each backend's image
     * @param aio qsd's and in-process virtio-blk's file AIO
     * @param direct O_DIRECT for every backend ({@code cache=none}), or the host page cache
     * @param warmupSeconds an unmeasured fio run of the same job before the measured one, per boot
     * @param timeout per boot, boot included
     * @param outDir where results go
     * @param repoRoot the repository (scripts/guest)
     * @param mqbExtra extra {@code mqb serve} arguments
     */
    public record Config(List<Kind> backends, int queues, int cpus, int iothreads, Map<String, String> job, int repeat,
            long sizeBytes, GuestDisk.Aio aio, boolean direct, double warmupSeconds, Duration timeout, Path outDir,
            Path repoRoot, List<String> mqbExtra) {

        public Config {
            backends = List.copyOf(backends);
            job = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(job));
            mqbExtra = List.copyOf(mqbExtra);
            Objects.requireNonNull(aio, "aio");
            Objects.requireNonNull(timeout, "timeout");
            Objects.requireNonNull(outDir, "outDir");
            Objects.requireNonNull(repoRoot, "repoRoot");
            if (backends.isEmpty()) {
                throw new IllegalArgumentException("--backend: name at least one of mqb, qsd, virtio-blk");
            }
            if (backends.stream().distinct().count() != backends.size()) {
                throw new IllegalArgumentException("--backend: each backend once, got " + backends);
            }
            if (queues < 1 || queues > 16) {
                throw new IllegalArgumentException("--queues must be 1..16, got " + queues);
            }
            if (cpus < queues || cpus > 16) {
                throw new IllegalArgumentException("--cpus must be " + queues + "..16 (at least --queues: virtio_blk"
                        + " makes at most one queue per guest CPU), got " + cpus);
            }
            if (iothreads < 1 || iothreads > 16) {
                throw new IllegalArgumentException("--iothreads must be 1..16, got " + iothreads);
            }
            if (repeat < 1 || repeat > 100) {
                throw new IllegalArgumentException("--repeat must be 1..100, got " + repeat);
            }
            if (sizeBytes < (16 << 20) || sizeBytes % (1 << 20) != 0) {
                throw new IllegalArgumentException("--size must be a whole number of MiB, at least 16m, got "
                        + sizeBytes);
            }
            if (warmupSeconds < 0 || warmupSeconds > 600) {
                throw new IllegalArgumentException("--warmup must be 0..600 s, got " + warmupSeconds);
            }
            for (Map.Entry<String, String> e : job.entrySet()) {
                if (!JOB_KEY.matcher(e.getKey()).matches() || !JOB_VALUE.matcher(e.getValue()).matches()) {
                    throw new IllegalArgumentException("--job: '" + e.getKey() + "=" + e.getValue() + "' is not a fio"
                            + " option this bench passes on (key: lower case, digits, '_'; value: no spaces or quotes)");
                }
            }
        }

        /** {@link #DEFAULT_JOB} with {@link #job} over it, and numjobs defaulting to the queue count. */
        public Map<String, String> fioOptions() {
            Map<String, String> m = new LinkedHashMap<>(DEFAULT_JOB);
            m.put("numjobs", Integer.toString(queues));
            m.put("cpus_allowed", cpus == 1 ? "0" : "0-" + (cpus - 1));
            m.putAll(job);
            return m;
        }
    }

    /**
     * One boot's measurements.
     *
     * @param ios requests the guest's disk completed in the window (reads, writes, discards, flushes)
     * @param windowSeconds host time between the guest's start and end marks
     * @param backendCpuSeconds see the class comment
     */
    public record Sample(Kind backend, int rep, FioReport fio, long ios, double windowSeconds,
            double backendCpuSeconds, double qemuVcpuSeconds, double qemuOtherSeconds, double bootSeconds,
            double wallSeconds, String backendCounted) {

        double perIoUs(double seconds) {
            return ios > 0 ? seconds * 1e6 / ios : Double.NaN;
        }

        public double backendUsPerIo() {
            return perIoUs(backendCpuSeconds);
        }

        public double qemuVcpuUsPerIo() {
            return perIoUs(qemuVcpuSeconds);
        }

        public double qemuOtherUsPerIo() {
            return perIoUs(qemuOtherSeconds);
        }
    }

    /** Median and range of one figure over a backend's repetitions. */
    public record Spread(double median, double min, double max) {
        static Spread of(List<Double> xs) {
            double[] v = xs.stream().mapToDouble(Double::doubleValue).filter(d -> !Double.isNaN(d)).sorted().toArray();
            if (v.length == 0) {
                return new Spread(Double.NaN, Double.NaN, Double.NaN);
            }
            double med = v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
            return new Spread(med, v[0], v[v.length - 1]);
        }

        /** (max - min) / median, in percent. */
        public double rangePercent() {
            return median == 0 ? Double.NaN : (max - min) / median * 100;
        }
    }

    private final Config c;
    private final PrintStream out;

    public GuestBench(Config c, PrintStream out) {
        this.c = c;
        this.out = out;
    }

    /** The figures of a sample the summary lists, by CSV column name. */
    static final Map<String, ToDoubleFunction<Sample>> FIGURES = figures();

    private static Map<String, ToDoubleFunction<Sample>> figures() {
        Map<String, ToDoubleFunction<Sample>> m = new LinkedHashMap<>();
        m.put("iops", s -> s.fio().iops());
        m.put("read_p99_us", s -> s.fio().readP99Us());
        m.put("write_p99_us", s -> s.fio().writeP99Us());
        m.put("backend_us_per_io", Sample::backendUsPerIo);
        m.put("qemu_vcpu_us_per_io", Sample::qemuVcpuUsPerIo);
        m.put("qemu_other_us_per_io", Sample::qemuOtherUsPerIo);
        m.put("boot_s", Sample::bootSeconds);
        return m;
    }

    /**
     * Runs the bench, prints a line per boot and the summary, writes {@code guest.csv},
     * {@code guest-summary.csv} and {@code guest.json} (with the machine), fio's JSON and every
     * console under {@link Config#outDir}. Returns the samples, in the order they were taken.
     *
     * @throws IOException a backend or a guest failed (the message says which and why)
     */
    public List<Sample> run() throws IOException {
        if (c.backends().contains(Kind.MQB)) {
            String why = VhostUserExport.mqbUnavailableReason();
            if (why != null) {
                throw new IOException(why + "; meanwhile: --backend qsd,virtio-blk");
            }
        }
        Path dir = Files.createDirectories(c.outDir());
        Path work = Files.createDirectories(dir.resolve("work"));
        GuestImage image = GuestImage.prepare(c.repoRoot());
        Machine machine = Machine.current(image, loadAverage());
        out.println("mqb guest: " + c.backends().stream().map(k -> k.label).toList() + ", " + c.repeat()
                + " repetition(s), " + c.queues() + " queues, " + c.cpus() + " guest CPUs (TCG), fio " + fioLine());
        out.println("machine: " + machine.describe());
        List<Sample> samples = new ArrayList<>();
        Map<Kind, VhostUserExport> exports = new EnumMap<>(Kind.class);
        Map<Kind, Path> images = new EnumMap<>(Kind.class);
        try {
            for (Kind k : c.backends()) {
                Path img = work.resolve(k.label + ".img");
                prefill(img, c.sizeBytes());
                images.put(k, img);
            }
            for (Kind k : c.backends()) {
                if (k == Kind.QSD) {
                    exports.put(k, VhostUserExport.qsd(images.get(k), work.resolve("qsd.sock"), c.queues(), c.aio(),
                            c.direct(), dir.resolve("qsd.log")));
                } else if (k == Kind.MQB) {
                    exports.put(k, VhostUserExport.mqb("driver=file,filename=" + images.get(k) + ",cache="
                                    + (c.direct() ? "none" : "writeback"), work.resolve("mqb.sock"), c.queues(),
                            c.iothreads(), c.mqbExtra(), dir.resolve("mqb-serve.log")));
                }
            }
            for (int rep = 1; rep <= c.repeat(); rep++) {
                for (Kind k : c.backends()) {
                    Sample s = boot(k, rep, image, exports.get(k), images.get(k), dir);
                    samples.add(s);
                    out.println(line(s));
                }
            }
        } finally {
            for (VhostUserExport e : exports.values()) {
                e.close();
            }
            for (Path img : images.values()) {
                Files.deleteIfExists(img);
            }
            try {
                Files.deleteIfExists(work); // only when empty: a stray file stays for a look
            } catch (java.nio.file.DirectoryNotEmptyException ignored) {
                // left as it is
            }
        }
        machine = machine.withLoadAtEnd(loadAverage());
        Map<Kind, Map<String, Spread>> summary = summary(samples);
        printSummary(summary);
        writeCsv(dir.resolve("guest.csv"), samples);
        writeSummaryCsv(dir.resolve("guest-summary.csv"), summary);
        Files.writeString(dir.resolve("guest.json"), json(machine, samples, summary));
        out.println("(results: " + dir.resolve("guest.csv") + ", guest-summary.csv, guest.json; fio JSON and consoles"
                + " in " + dir + ")");
        return samples;
    }

    /** The guest's shell test: warm-up, stat, mark, the measured fio, mark, stat, fio's JSON. */
    String script() {
        StringBuilder fio = new StringBuilder("fio --name=job");
        for (Map.Entry<String, String> e : c.fioOptions().entrySet()) {
            fio.append(" --").append(e.getKey()).append(e.getValue().isEmpty() ? "" : "=" + e.getValue());
        }
        String cmd = fio.toString();
        StringBuilder s = new StringBuilder();
        s.append("# mqb guest: one measured fio run between two marks\n");
        s.append("mqb_result limits mqb_limits vda\n");
        if (c.warmupSeconds() > 0) {
            s.append(cmd).append(String.format(Locale.ROOT, " --runtime=%.1f --time_based=1 --output-format=terse",
                    c.warmupSeconds())).append(" > /tmp/warmup.txt 2>&1 || { cat /tmp/warmup.txt; exit 3; }\n");
        }
        s.append("mqb_result stat-start mqb_stat vda\n");
        s.append("mqb_mark start\n");
        s.append(cmd).append(" --output-format=json --output=/tmp/fio.json > /tmp/fio.err 2>&1\n");
        s.append("rc=$?\n");
        s.append("mqb_mark end\n");
        s.append("mqb_result stat-end mqb_stat vda\n");
        s.append("mqb_print fio /tmp/fio.json\n");
        s.append("mqb_print fio-stderr /tmp/fio.err\n");
        s.append("mqb_result interrupts grep virtio /proc/interrupts\n");
        s.append("exit $rc\n");
        return s.toString();
    }

    private String fioLine() {
        StringBuilder b = new StringBuilder();
        for (Map.Entry<String, String> e : c.fioOptions().entrySet()) {
            b.append(b.isEmpty() ? "" : ",").append(e.getKey()).append(e.getValue().isEmpty() ? "" : "=" + e.getValue());
        }
        return b.toString();
    }

    /** CPU counters at one instant, for the window between the guest's marks. */
    private record Counters(long backend, long qemuTotal, long qemuVcpu, long qemuBackendThreads) {}

    private Sample boot(Kind k, int rep, GuestImage image, VhostUserExport export, Path img, Path dir)
            throws IOException {
        if (export != null && !export.alive()) {
            throw new IOException(k.label + " exited during the bench:\n" + export.logTail());
        }
        GuestDisk disk = export != null ? export.disk() : new GuestDisk.InProcess(img, c.queues(), c.aio(), c.direct());
        Map<String, Counters> at = new ConcurrentHashMap<>(); // written on the console thread
        String name = k.label + "-r" + rep;
        GuestRun r = GuestVm.builder(image).name(name).disk(disk).cpus(c.cpus()).script(script()).timeout(c.timeout())
                .workDir(dir.resolve("console"))
                .onMark((mark, qemuPid) -> at.put(mark, counters(export, qemuPid)))
                .build().run();
        if (!r.ok()) {
            throw new IOException(k.label + " repetition " + rep + ": the guest's test failed (status " + r.status()
                    + ", " + r.errors() + "); fio said:\n" + r.sections().getOrDefault("fio-stderr", "")
                    + r.sections().getOrDefault("fio", "") + "\nconsole: " + r.console());
        }
        String fioJson = r.section("fio");
        Files.writeString(dir.resolve("fio-" + name + ".json"), fioJson);
        FioReport fio = FioReport.parse(fioJson);
        if (fio.errors() != 0) {
            throw new IOException(k.label + " repetition " + rep + ": fio reported " + fio.errors() + " error(s); see "
                    + dir.resolve("fio-" + name + ".json"));
        }
        long ios = ios(r.section("stat-end")) - ios(r.section("stat-start"));
        Counters a = at.get("start");
        Counters b = at.get("end");
        if (a == null || b == null) {
            throw new IOException(k.label + " repetition " + rep + ": the harness saw no start/end mark; console: "
                    + r.console());
        }
        double window = (r.mark("end").hostNanos() - r.mark("start").hostNanos()) / 1e9;
        double backend = k == Kind.VIRTIO_BLK ? ProcStat.seconds(b.qemuBackendThreads - a.qemuBackendThreads)
                : ProcStat.seconds(b.backend - a.backend);
        double vcpu = ProcStat.seconds(b.qemuVcpu - a.qemuVcpu);
        double other = ProcStat.seconds(b.qemuTotal - a.qemuTotal) - vcpu
                - (k == Kind.VIRTIO_BLK ? backend : 0);
        String counted = k == Kind.VIRTIO_BLK ? "QEMU threads 'IO iot0' and 'worker' (in-process device)"
                : k.label + " process, all threads (pid " + export.pid() + ")";
        return new Sample(k, rep, fio, ios, window, backend, vcpu, Math.max(0, other), r.bootSeconds(),
                r.wallSeconds(), counted);
    }

    private static Counters counters(VhostUserExport export, long qemuPid) {
        long vcpu = 0;
        long backendThreads = 0;
        for (ProcStat.ThreadTicks t : ProcStat.threads(qemuPid).values()) {
            if (t.name().startsWith("CPU ")) {
                vcpu += t.ticks();
            } else if (t.name().startsWith("IO ") || t.name().equals("worker")) {
                backendThreads += t.ticks();
            }
        }
        return new Counters(export != null ? export.cpuTicks() : 0, ProcStat.processTicks(qemuPid), vcpu,
                backendThreads);
    }

    /** Requests completed, from the guest's mqb_stat section. */
    static long ios(String stat) {
        long n = 0;
        for (String line : stat.lines().toList()) {
            String[] f = line.trim().split("\\s+");
            if (f.length == 2 && f[0].endsWith("_ios")) {
                n += Long.parseLong(f[1]);
            }
        }
        return n;
    }

    /** A raw image of {@code size} bytes, every MiB written (random, repeating), so reads find data. */
    static void prefill(Path img, long size) throws IOException {
        byte[] mib = new byte[1 << 20];
        new Random(13).nextBytes(mib);
        try (FileChannel ch = FileChannel.open(img, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING);
             OutputStream o = java.nio.channels.Channels.newOutputStream(ch)) {
            for (long off = 0; off < size; off += mib.length) {
                o.write(mib);
            }
            ch.force(true);
        }
    }

    private static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split(" ");
            return String.join(" ", Arrays.copyOf(f, 3));
        } catch (IOException | RuntimeException e) {
            return "unknown";
        }
    }

    private static String line(Sample s) {
        return String.format(Locale.ROOT, "  %-10s rep %d: %8.0f IOPS  p99 %s  backend %6.1f us/IO  qemu vCPU %6.1f"
                        + " + other %5.1f us/IO  (%d requests in %.1f s, boot %.1f s)", s.backend().label, s.rep(),
                s.fio().iops(), p99(s.fio().readP99Us(), s.fio().writeP99Us()), s.backendUsPerIo(), s.qemuVcpuUsPerIo(),
                s.qemuOtherUsPerIo(), s.ios(), s.windowSeconds(), s.bootSeconds());
    }

    private static String p99(double read, double write) {
        if (Double.isNaN(write)) {
            return String.format(Locale.ROOT, "%8.0f us", read);
        }
        if (Double.isNaN(read)) {
            return String.format(Locale.ROOT, "%8.0f us (write)", write);
        }
        return String.format(Locale.ROOT, "r %.0f / w %.0f us", read, write);
    }

    static Map<Kind, Map<String, Spread>> summary(List<Sample> samples) {
        Map<Kind, Map<String, Spread>> m = new EnumMap<>(Kind.class);
        for (Kind k : Kind.values()) {
            List<Sample> mine = samples.stream().filter(s -> s.backend() == k).toList();
            if (mine.isEmpty()) {
                continue;
            }
            Map<String, Spread> f = new LinkedHashMap<>();
            FIGURES.forEach((name, fn) -> f.put(name, Spread.of(mine.stream().map(fn::applyAsDouble).toList())));
            m.put(k, f);
        }
        return m;
    }

    private void printSummary(Map<Kind, Map<String, Spread>> summary) {
        out.printf(Locale.ROOT, "%nmedian [min - max] over %d repetition(s):%n", c.repeat());
        out.printf(Locale.ROOT, "%-10s %24s %24s %24s %24s%n", "backend", "IOPS", "p99 us", "backend us/IO",
                "qemu vCPU us/IO");
        for (Map.Entry<Kind, Map<String, Spread>> e : summary.entrySet()) {
            Map<String, Spread> f = e.getValue();
            Spread p99 = Double.isNaN(f.get("read_p99_us").median()) ? f.get("write_p99_us") : f.get("read_p99_us");
            out.printf(Locale.ROOT, "%-10s %24s %24s %24s %24s%n", e.getKey().label, fmt(f.get("iops"), "%.0f"),
                    fmt(p99, "%.0f"), fmt(f.get("backend_us_per_io"), "%.1f"), fmt(f.get("qemu_vcpu_us_per_io"), "%.1f"));
        }
        out.println("backend us/IO counts: mqb and qsd: the export process, all threads; virtio-blk: QEMU's 'IO iot0'"
                + " and 'worker' threads. qemu vCPU: the TCG vCPU threads (the emulated guest). Per request the"
                + " guest's disk completed in the measured window (/sys/block/vda/stat).");
        out.println("Under TCG the guest's emulated CPUs set the pace: compare CPU per I/O, not IOPS, between backends.");
    }

    private static String fmt(Spread s, String f) {
        return String.format(Locale.ROOT, f + " [" + f + " - " + f + "]", s.median(), s.min(), s.max());
    }

    private static void writeCsv(Path file, List<Sample> samples) throws IOException {
        StringBuilder b = new StringBuilder("backend,rep,iops,read_iops,write_iops,trim_iops,read_p99_us,write_p99_us,"
                + "ios,window_s,backend_cpu_s,qemu_vcpu_cpu_s,qemu_other_cpu_s,backend_us_per_io,qemu_vcpu_us_per_io,"
                + "qemu_other_us_per_io,boot_s,wall_s\n");
        for (Sample s : samples) {
            FioReport f = s.fio();
            b.append(String.format(Locale.ROOT, "%s,%d,%.1f,%.1f,%.1f,%.1f,%s,%s,%d,%.3f,%.2f,%.2f,%.2f,%s,%s,%s,%.2f,%.2f%n",
                    s.backend().label, s.rep(), f.iops(), f.readIops(), f.writeIops(), f.trimIops(), num(f.readP99Us()),
                    num(f.writeP99Us()), s.ios(), s.windowSeconds(), s.backendCpuSeconds(), s.qemuVcpuSeconds(),
                    s.qemuOtherSeconds(), num(s.backendUsPerIo()), num(s.qemuVcpuUsPerIo()), num(s.qemuOtherUsPerIo()),
                    s.bootSeconds(), s.wallSeconds()));
        }
        Files.writeString(file, b.toString());
    }

    private static void writeSummaryCsv(Path file, Map<Kind, Map<String, Spread>> summary) throws IOException {
        StringBuilder b = new StringBuilder("backend,figure,median,min,max\n");
        summary.forEach((k, f) -> f.forEach((name, s) -> b.append(String.format(Locale.ROOT, "%s,%s,%s,%s,%s%n",
                k.label, name, num(s.median()), num(s.min()), num(s.max())))));
        Files.writeString(file, b.toString());
    }

    private static String num(double v) {
        return Double.isNaN(v) ? "" : String.format(Locale.ROOT, "%.2f", v);
    }

    private String json(Machine machine, List<Sample> samples, Map<Kind, Map<String, Spread>> summary) {
        JsonOut j = new JsonOut().beginObject();
        j.name("machine").raw(machine.info().toJson());
        j.field("kernel", machine.kernel()).field("qemu", machine.qemu()).field("qemu_storage_daemon", machine.qsd())
                .field("guest_kernel", machine.guestKernel()).field("guest_fio", machine.guestFio())
                .field("load_average_start", machine.loadStart()).field("load_average_end", machine.loadEnd());
        j.name("config").beginObject()
                .field("backends", String.join(",", c.backends().stream().map(k -> k.label).toList()))
                .field("queues", c.queues()).field("guest_cpus", c.cpus()).field("mqb_iothreads", c.iothreads())
                .field("qsd_iothreads", 1).field("virtio_blk_iothreads", 1)
                .field("repeat", c.repeat()).field("size_bytes", c.sizeBytes()).field("aio", c.aio().qemuName())
                .field("cache", c.direct() ? "none" : "writeback").field("warmup_s", c.warmupSeconds())
                .field("fio", fioLine()).field("accel", "tcg").endObject();
        j.field("backend_cpu_counts", "mqb, qsd: the export process, all threads (/proc/PID/stat); virtio-blk: QEMU"
                + " threads 'IO iot0' and 'worker' (/proc/PID/task/TID/stat). Per request completed by the guest's disk"
                + " in the measured window.");
        j.name("runs").beginArray();
        for (Sample s : samples) {
            FioReport f = s.fio();
            j.beginObject().field("backend", s.backend().label).field("rep", s.rep()).field("iops", f.iops())
                    .field("read_iops", f.readIops()).field("write_iops", f.writeIops())
                    .field("read_p99_us", f.readP99Us()).field("write_p99_us", f.writeP99Us()).field("ios", s.ios())
                    .field("window_s", s.windowSeconds()).field("backend_cpu_s", s.backendCpuSeconds())
                    .field("qemu_vcpu_cpu_s", s.qemuVcpuSeconds()).field("qemu_other_cpu_s", s.qemuOtherSeconds())
                    .field("backend_us_per_io", s.backendUsPerIo()).field("qemu_vcpu_us_per_io", s.qemuVcpuUsPerIo())
                    .field("qemu_other_us_per_io", s.qemuOtherUsPerIo()).field("boot_s", s.bootSeconds())
                    .field("wall_s", s.wallSeconds()).field("backend_counted", s.backendCounted()).endObject();
        }
        j.endArray();
        j.name("summary").beginObject();
        summary.forEach((k, f) -> {
            j.name(k.label).beginObject();
            f.forEach((name, s) -> j.name(name).beginObject().field("median", s.median()).field("min", s.min())
                    .field("max", s.max()).endObject());
            j.endObject();
        });
        j.endObject();
        return j.endObject().toString();
    }

    /** The machine beside {@link MachineInfo}: what the guest bench depends on. */
    record Machine(MachineInfo info, String kernel, String qemu, String qsd, String guestKernel, String guestFio,
            String loadStart, String loadEnd) {

        static Machine current(GuestImage image, String load) {
            String fio = image.info().lines().filter(l -> l.startsWith("fio: ")).map(l -> l.substring(5)).findFirst()
                    .orElse("unknown");
            return new Machine(MachineInfo.current(), System.getProperty("os.version"),
                    firstLine("qemu-system-x86_64", "--version"), firstLine("qemu-storage-daemon", "--version"),
                    image.kernelVersion(), fio, load, "");
        }

        Machine withLoadAtEnd(String load) {
            return new Machine(info, kernel, qemu, qsd, guestKernel, guestFio, loadStart, load);
        }

        String describe() {
            return info.describe() + "; host kernel " + kernel + "; " + qemu + "; guest kernel " + guestKernel + ", "
                    + guestFio + "; load average " + loadStart;
        }

        private static String firstLine(String... command) {
            try {
                Scripts.Result r = Scripts.run(List.of(command), Duration.ofSeconds(20));
                return r.stdout().lines().findFirst().orElse("unknown").trim();
            } catch (IOException e) {
                return "unknown (" + e.getMessage() + ")";
            }
        }
    }

    private static Map<String, String> defaultJob() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("filename", "/dev/vda");
        m.put("ioengine", "libaio");
        m.put("direct", "1");
        m.put("rw", "randread");
        m.put("bs", "4k");
        m.put("iodepth", "16");
        m.put("runtime", "20");
        m.put("time_based", "1");
        m.put("group_reporting", "1");
        m.put("cpus_allowed_policy", "split");
        m.put("randrepeat", "0");
        m.put("eta", "never");
        return java.util.Collections.unmodifiableMap(m);
    }
}
