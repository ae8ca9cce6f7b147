package org.mqblock.experiments;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.HdrHistogram.Histogram;
import org.mqblock.experiments.figures.Reproducer;
import org.mqblock.experiments.job.Backend;
import org.mqblock.experiments.job.DirStats;
import org.mqblock.experiments.job.FioJson;
import org.mqblock.experiments.job.JobResult;
import org.mqblock.experiments.job.JobRunner;
import org.mqblock.experiments.job.JobSpec;
import org.mqblock.experiments.job.Rw;
import org.mqblock.virtio.VirtioBlkRig.Mode;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code mqb run}: one fio-like job against a virtio-blk disk of this block layer, or (with {@code
 * --target vhost-user:SOCK}) against any vhost-user-blk backend, this process playing QEMU's part
 * as libblkio does. Prints a summary like fio's and writes fio-shaped JSON (see {@link FioJson}).
 */
@Command(name = "run", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Run one fio-like job against a virtio-blk disk (guest driver, virtqueues, IOThreads, backend),"
                + " or, with --target vhost-user:SOCK, against a vhost-user-blk backend in another process.")
final class RunCommand implements Callable<Integer> {

    @Option(names = "--rw", defaultValue = "randread", description = "read, write, randread, randwrite, randrw (${DEFAULT-VALUE})")
    String rw;

    @Option(names = "--bs", defaultValue = "4k", description = "block size (${DEFAULT-VALUE})")
    String bs;

    @Option(names = "--iodepth", defaultValue = "32", description = "requests in flight per vCPU (${DEFAULT-VALUE})")
    int iodepth;

    @Option(names = "--numjobs", defaultValue = "1", description = "vCPU threads (${DEFAULT-VALUE})")
    int numjobs;

    @Option(names = "--runtime", defaultValue = "5", description = "measured time: 10, 10s, 500ms, 2m (${DEFAULT-VALUE} s)")
    String runtime;

    @Option(names = "--ramp-time", defaultValue = "1", description = "unmeasured warm-up before it (${DEFAULT-VALUE} s)")
    String rampTime;

    @Option(names = "--size", description = "disk size (256m; with --target, the backend's capacity)")
    String size;

    @Option(names = "--target", defaultValue = "", paramLabel = "vhost-user:SOCK",
            description = "drive a vhost-user-blk backend in another process on this socket, one virtqueue per job,"
                    + " instead of the in-JVM device (mode, queues, iothreads, backend options then do not apply)")
    String target;

    @Option(names = "--mode", defaultValue = "mq", description = "sq-global, sq-iothread, mq (${DEFAULT-VALUE})")
    String mode;

    @Option(names = "--queues", defaultValue = "0", description = "virtqueues in mq mode, 0: one per vCPU (${DEFAULT-VALUE})")
    int queues;

    @Option(names = "--iothreads", defaultValue = "0",
            description = "IOThreads in mq mode, 0: one per virtqueue up to the CPU count (${DEFAULT-VALUE})")
    int iothreads;

    @Option(names = "--backend", defaultValue = "memory", description = "null, memory, file, latency, thin (${DEFAULT-VALUE})")
    String backend;

    @Option(names = "--backend-opts", defaultValue = "",
            description = "extra driver keys, e.g. latency-us=50,parallelism=64 or cache=none")
    String backendOpts;

    @Option(names = "--filename", defaultValue = "", description = "image of the file/thin backends (default: a temporary file)")
    String filename;

    @Option(names = "--defer-call", defaultValue = "on", description = "batch interrupts per completion batch: on, off (${DEFAULT-VALUE})")
    String deferCall;

    @Option(names = "--poll-max-ns", defaultValue = "32768", description = "IOThread adaptive polling window, 0 disables (${DEFAULT-VALUE})")
    long pollMaxNs;

    @Option(names = "--pin", defaultValue = "on", description = "pin IOThreads and vCPUs with Chronicle Affinity: on, off (${DEFAULT-VALUE})")
    String pin;

    @Option(names = "--verify", defaultValue = "off", description = "stamp and check every block (crc32c): on, off (${DEFAULT-VALUE})")
    String verify;

    @Option(names = "--event-idx", defaultValue = "on", description = "VIRTIO_RING_F_EVENT_IDX: on, off (${DEFAULT-VALUE})")
    String eventIdx;

    @Option(names = "--guest-poll", defaultValue = "off", description = "vCPUs poll the used ring instead of taking interrupts: on, off (${DEFAULT-VALUE})")
    String guestPoll;

    @Option(names = "--halt-poll-ns", defaultValue = "" + org.mqblock.virtio.HaltPoll.DEFAULT_MAX_NS,
            description = "guest model: KVM's halt_poll_ns, how long a halted vCPU spins before it sleeps; 0 disables (${DEFAULT-VALUE})")
    long haltPollNs;

    @Option(names = "--guest-cost-ns", defaultValue = "" + org.mqblock.virtio.VcpuModel.DEFAULT_REQUEST_COST_NS,
            description = "guest model: busy work per request in its vCPU, the guest's own cost (${DEFAULT-VALUE}; README: The guest model)")
    long guestCostNs;

    @Option(names = "--randseed", defaultValue = "1", description = "seed of random offsets (${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--output", description = "fio JSON file (default results/run/<time>-<rw>-<mode>.json)")
    Path output;

    @CommandLine.Spec CommandLine.Model.CommandSpec cmd;

    JobSpec spec() {
        try {
            return new JobSpec(Rw.parse(rw), Math.toIntExact(Math.min(Units.bytes("--bs", bs), Integer.MAX_VALUE)),
                    iodepth, numjobs, Units.millis("--runtime", runtime), Units.millis("--ramp-time", rampTime),
                    size != null ? Units.bytes("--size", size) : target.isEmpty() ? 256L << 20 : 0, parseMode(mode), queues, iothreads, Backend.parse(backend),
                    backendOpts, filename, Units.onOff("--defer-call", deferCall), pollMaxNs, Units.onOff("--pin", pin),
                    Units.onOff("--verify", verify), Units.onOff("--event-idx", eventIdx),
                    Units.onOff("--guest-poll", guestPoll), seed, target, haltPollNs, guestCostNs);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cmd.commandLine(), e.getMessage(), e);
        }
    }

    static Mode parseMode(String s) {
        try {
            return Mode.parse(s);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--mode: " + e.getMessage());
        }
    }

    @Override
    public Integer call() throws IOException {
        JobSpec spec = spec();
        MachineInfo machine = MachineInfo.current();
        JobResult r;
        try {
            r = JobRunner.run(spec);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cmd.commandLine(), e.getMessage(), e);
        }
        System.out.print(summary(r, machine));
        Path out = output != null ? output : Reproducer.root().resolve("results").resolve("run").resolve(
                LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")) + "-" + spec.rw() + "-"
                        + (spec.isVhostUser() ? "vhost-user" : spec.mode().label) + ".json");
        if (out.getParent() != null) {
            Files.createDirectories(out.getParent());
        }
        Files.writeString(out, FioJson.write(r, machine, System.currentTimeMillis()));
        System.out.println("fio JSON: " + out);
        return r.ok() ? 0 : 1;
    }

    /** A summary in fio's layout. */
    static String summary(JobResult r, MachineInfo machine) {
        JobSpec s = r.spec();
        StringBuilder b = new StringBuilder();
        if (s.isVhostUser()) {
            b.append(String.format(Locale.ROOT, "mqb-%s: (rw=%s, bs=%d, iodepth=%d, numjobs=%d) target=%s queues=%d"
                            + " size=%d event_idx=%s polling=%s%n", s.rw(), s.rw(), s.bs(), s.iodepth(), s.numjobs(),
                    s.target(), s.virtqueues(), s.size(), s.eventIdx() ? "on" : "off", s.guestPoll() ? "on" : "off"));
        } else {
            b.append(String.format(Locale.ROOT, "mqb-%s: (rw=%s, bs=%d, iodepth=%d, numjobs=%d) mode=%s queues=%d iothreads=%d"
                            + " backend=%s defer_call=%s poll_max_ns=%d%n", s.rw(), s.rw(), s.bs(), s.iodepth(), s.numjobs(),
                    s.mode().label, s.virtqueues(), s.iothreadCount(), s.backend(), s.deferCall() ? "on" : "off",
                    s.pollMaxNs()));
        }
        direction(b, "read", r.read(), r.runtimeNs());
        direction(b, "write", r.write(), r.runtimeNs());
        b.append(String.format(Locale.ROOT, "  cpu          : usr=%.2f%%, sys=%.2f%%%n", r.usrCpu(), r.sysCpu()));
        if (r.backend() != null) {
            org.mqblock.experiments.job.BackendCpu c = r.backend();
            double seconds = r.runtimeNs() / 1e9;
            b.append(String.format(Locale.ROOT, "  backend cpu  : pid %d usr=%.2f%%, sys=%.2f%%, %.2f us/IO; busiest:", c.pid(),
                    c.percent(c.usrTicks(), seconds), c.percent(c.sysTicks(), seconds), c.microsPerIo(r.totalIos())));
            c.threads().stream().limit(4).forEach(t -> b.append(String.format(Locale.ROOT, " %s(%d)=%.0f%%@cpu%d", t.name(),
                    t.tid(), c.percent(t.ticks(), seconds), t.lastCpu())));
            b.append('\n');
        }
        b.append(String.format(Locale.ROOT, "  thread cpu   : %.2f us/IO in all, %.2f in the device's threads;", r.cpuUsPerIo(),
                r.deviceCpuUsPerIo()));
        for (JobResult.ThreadPlacement t : r.threads()) {
            b.append(String.format(Locale.ROOT, " %s=%.0f%%", t.name(), r.threadCpuPercent(t.name())));
        }
        b.append('\n');
        b.append(String.format(Locale.ROOT, "  virtio       : %.4f kicks/request, %.4f interrupts/request%n",
                r.kicksPerRequest(), r.interruptsPerRequest()));
        b.append("  threads      :");
        for (JobResult.ThreadPlacement t : r.threads()) {
            b.append(' ').append(t.name()).append(t.bound() ? "@cpu" + t.cpuBound() : "(unpinned" + ("none".equals(t.cpuAsked()) ? ")" : ", asked " + t.cpuAsked() + ")"));
        }
        b.append('\n');
        if (s.verify()) {
            b.append(String.format(Locale.ROOT, "  verify       : %d blocks checked, %d failures%n", r.verifiedBlocks(),
                    r.verifyFailureCount()));
            r.verifyFailures().forEach(f -> b.append("    ").append(f).append('\n'));
        }
        if (r.errors() > 0) {
            b.append("  errors       : ").append(r.errors()).append(" requests failed\n");
        }
        if (r.deviceBroken()) {
            b.append("  device       : BROKEN (needs reset)\n");
        }
        b.append("  machine      : ").append(machine.describe()).append('\n');
        return b.toString();
    }

    private static void direction(StringBuilder b, String name, DirStats d, long runtimeNs) {
        if (d.ios() == 0) {
            return;
        }
        double bw = d.bytesPerSecond(runtimeNs);
        b.append(String.format(Locale.ROOT, "  %5s: IOPS=%s, BW=%.1fMiB/s (%.1fMB/s)(%.1fMiB/%dmsec)%n", name,
                Units.count(d.iops(runtimeNs)), bw / (1 << 20), bw / 1e6, d.bytes() / (double) (1 << 20),
                runtimeNs / 1_000_000));
        latency(b, "slat", d.slatNs());
        latency(b, "clat", d.clatNs());
        latency(b, " lat", d.latNs());
        Histogram c = d.latNs();
        b.append(String.format(Locale.ROOT, "     lat percentiles (usec): 50.00th=[%.1f], 99.00th=[%.1f], 99.90th=[%.1f],"
                        + " 99.99th=[%.1f]%n", c.getValueAtPercentile(50) / 1e3, c.getValueAtPercentile(99) / 1e3,
                c.getValueAtPercentile(99.9) / 1e3, c.getValueAtPercentile(99.99) / 1e3));
    }

    private static void latency(StringBuilder b, String name, Histogram h) {
        b.append(String.format(Locale.ROOT, "    %s (usec): min=%.2f, max=%.2f, avg=%.2f, stdev=%.2f%n", name,
                h.getMinValue() / 1e3, h.getMaxValue() / 1e3, h.getMean() / 1e3, h.getStdDeviation() / 1e3));
    }
}
