package org.mqblock.experiments;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.mqblock.experiments.figures.Reproducer;
import org.mqblock.experiments.job.Backend;
import org.mqblock.experiments.job.FioJson;
import org.mqblock.experiments.job.FioNormal;
import org.mqblock.experiments.job.JobLogs;
import org.mqblock.experiments.job.JobResult;
import org.mqblock.experiments.job.JobRunner;
import org.mqblock.experiments.job.JobSpec;
import org.mqblock.experiments.job.Rw;
import org.mqblock.experiments.job.StatusLine;
import org.mqblock.experiments.job.StopRequest;
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

    @Option(names = "--output-format", defaultValue = "normal",
            description = "what stdout gets: normal (fio's summary; json+ still goes to --output), json, json+ (${DEFAULT-VALUE})")
    String outputFormat;

    @Option(names = {"--write_lat_log", "--write-lat-log"}, paramLabel = "PREFIX",
            description = "fio latency logs PREFIX_lat.N.log, PREFIX_clat.N.log, PREFIX_slat.N.log, one set per job")
    String latLog;

    @Option(names = {"--write_iops_log", "--write-iops-log"}, paramLabel = "PREFIX", description = "fio IOPS log PREFIX_iops.N.log")
    String iopsLog;

    @Option(names = {"--write_bw_log", "--write-bw-log"}, paramLabel = "PREFIX", description = "fio bandwidth log PREFIX_bw.N.log")
    String bwLog;

    @Option(names = {"--log_avg_msec", "--log-avg-msec"}, defaultValue = "0",
            description = "average log entries over windows of this many ms; 0: one entry per request (${DEFAULT-VALUE})")
    long logAvgMs;

    @Option(names = {"--log_offset", "--log-offset"}, defaultValue = "0", description = "add each request's offset to the logs: 1, 0 (${DEFAULT-VALUE})")
    String logOffset;

    @Option(names = "--eta", defaultValue = "auto",
            description = "live status line with ETA: auto (when stdout is a terminal), always, never (${DEFAULT-VALUE})")
    String eta;

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
        OutputFormat format = OutputFormat.parse(cmd, outputFormat);
        JobRunner.Controls controls = controls(spec);
        MachineInfo machine = MachineInfo.current();
        JobResult r;
        try (Interrupts signals = Interrupts.install(controls.stop())) {
            r = JobRunner.run(spec, controls);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cmd.commandLine(), e.getMessage(), e);
        }
        long now = System.currentTimeMillis();
        Path out = output != null ? output : Reproducer.root().resolve("results").resolve("run").resolve(
                LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")) + "-" + spec.rw() + "-"
                        + (spec.isVhostUser() ? "vhost-user" : spec.mode().label) + ".json");
        if (out.getParent() != null) {
            Files.createDirectories(out.getParent());
        }
        switch (format) {
            case NORMAL -> {
                System.out.print(FioNormal.write(r, machine, now));
                Files.writeString(out, FioJson.write(r, machine, now, true));
                System.out.println("fio JSON: " + out);
            }
            case JSON, JSON_PLUS -> {
                String json = FioJson.write(r, machine, now, format == OutputFormat.JSON_PLUS);
                System.out.println(json);
                if (output != null) {
                    Files.writeString(out, json);
                }
            }
        }
        System.out.flush();
        // fio's exit status after SIGINT or SIGTERM is 128, its stats written all the same.
        return r.interrupted() ? 128 : r.ok() ? 0 : 1;
    }

    /** fio's --output-format values this command writes. */
    enum OutputFormat {
        NORMAL, JSON, JSON_PLUS;

        static OutputFormat parse(CommandLine.Model.CommandSpec cmd, String s) {
            return switch (s.trim().toLowerCase(Locale.ROOT)) {
                case "normal" -> NORMAL;
                case "json" -> JSON;
                case "json+" -> JSON_PLUS;
                default -> throw new CommandLine.ParameterException(cmd.commandLine(),
                        "--output-format: '" + s + "' is not one of normal, json, json+");
            };
        }
    }

    private JobRunner.Controls controls(JobSpec spec) {
        JobLogs logs;
        boolean status;
        try {
            logs = new JobLogs(latLog, iopsLog, bwLog, logAvgMs, Units.onOff("--log_offset", logOffset));
            status = switch (eta.trim().toLowerCase(Locale.ROOT)) {
                case "always" -> true;
                case "never" -> false;
                case "auto" -> System.console() != null && System.console().isTerminal();
                default -> throw new IllegalArgumentException("--eta: '" + eta + "' is not one of auto, always, never");
            };
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cmd.commandLine(), e.getMessage(), e);
        }
        return new JobRunner.Controls(logs, new StopRequest(), status ? new StatusLine(System.out) : null);
    }
}
