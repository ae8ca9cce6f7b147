package org.mqblock.experiments;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.mqblock.experiments.figures.Reproducer;
import org.mqblock.experiments.guest.GuestBench;
import org.mqblock.experiments.guest.GuestDisk;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code mqb guest}: a real Linux guest (QEMU, TCG) runs one fio job on its virtio-blk disk,
 * served in turn by our vhost-user-blk export, qemu-storage-daemon's, and QEMU's in-process
 * virtio-blk; see {@link GuestBench} for what is measured and counted.
 */
@Command(name = "guest", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Boot a real Linux guest (QEMU TCG) on each backend in turn, A B C A B C ..., and run the same"
                + " fio job inside it: guest IOPS and p99, and each backend's CPU time per I/O.",
                "Installs QEMU, qemu-storage-daemon, a kernel, busybox-static and fio from Debian when missing"
                        + " (scripts/guest/install-guest-peers.sh). On a shared machine run it under"
                        + " 'flock /tmp/mqblock-cpu.lock'."})
final class GuestCommand implements Callable<Integer> {

    @Option(names = "--backend", defaultValue = "mqb,qsd,virtio-blk", split = ",", paramLabel = "mqb|qsd|virtio-blk",
            description = "backends, in the order each repetition boots them (${DEFAULT-VALUE})")
    List<String> backends;

    @Option(names = "--queues", defaultValue = "2", description = "virtqueues, and blk-mq queues in the guest (${DEFAULT-VALUE})")
    int queues;

    @Option(names = "--cpus", description = "guest CPUs (default: --queues)")
    Integer cpus;

    @Option(names = "--iothreads", description = "our export's IOThreads, virtqueues round-robin (default: --queues)")
    Integer iothreads;

    @Option(names = "--job", split = ",", paramLabel = "KEY=VALUE",
            description = "fio options over the default job (filename=/dev/vda, ioengine=libaio, direct=1, rw=randread,"
                    + " bs=4k, iodepth=16, numjobs=--queues, each job on a guest CPU of its own, runtime=20, time_based=1,"
                    + " group_reporting=1), e.g. --job rw=randwrite,bs=16k,runtime=30")
    List<String> job = new ArrayList<>();

    @Option(names = "--repeat", defaultValue = "3", description = "repetitions of the rotation (${DEFAULT-VALUE})")
    int repeat;

    @Option(names = "--size", defaultValue = "256m", description = "each backend's image, prefilled (${DEFAULT-VALUE})")
    String size;

    @Option(names = "--aio", defaultValue = "io_uring", description = "qsd's and virtio-blk's file AIO: io_uring, threads (${DEFAULT-VALUE})")
    String aio;

    @Option(names = "--cache", defaultValue = "none",
            description = "none (O_DIRECT) or writeback, for every backend (${DEFAULT-VALUE})")
    String cache;

    @Option(names = "--warmup", defaultValue = "2", description = "unmeasured fio seconds before the measured run, per boot (${DEFAULT-VALUE})")
    String warmup;

    @Option(names = "--timeout", description = "per boot, boot included (default: 120 s + runtime + warm-up)")
    String timeout;

    @Option(names = "--output", description = "results directory (default results/guest/<time>)")
    Path output;

    @Option(names = "--mqb-serve-arg", paramLabel = "ARG", description = "extra 'mqb serve' argument (repeatable), e.g. --mqb-serve-arg=--pin=off")
    List<String> mqbExtra = new ArrayList<>();

    @CommandLine.Spec CommandLine.Model.CommandSpec cmd;

    GuestBench.Config config() {
        try {
            List<GuestBench.Kind> kinds = backends.stream().map(GuestBench.Kind::parse).toList();
            Map<String, String> fio = new LinkedHashMap<>();
            for (String kv : job) {
                int eq = kv.indexOf('=');
                fio.put(eq < 0 ? kv.trim() : kv.substring(0, eq).trim(), eq < 0 ? "" : kv.substring(eq + 1).trim());
            }
            if (!cache.equals("none") && !cache.equals("writeback")) {
                throw new IllegalArgumentException("--cache takes none or writeback, got '" + cache + "'");
            }
            double warm = Units.millis("--warmup", warmup) / 1000.0;
            long runtimeMs = Units.millis("--job runtime",
                    fio.getOrDefault("runtime", GuestBench.DEFAULT_JOB.get("runtime")));
            Duration perBoot = timeout != null ? Duration.ofMillis(Units.millis("--timeout", timeout))
                    : Duration.ofMillis(120_000 + runtimeMs + Math.round(warm * 1000));
            Path out = output != null ? output : Reproducer.root().resolve("results").resolve("guest")
                    .resolve(LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
            return new GuestBench.Config(kinds, queues, cpus != null ? cpus : queues,
                    iothreads != null ? iothreads : queues, fio, repeat, Units.bytes("--size", size),
                    GuestDisk.Aio.parse(aio), cache.equals("none"), warm, perBoot, out, repoRoot(), mqbExtra);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cmd.commandLine(), e.getMessage(), e);
        }
    }

    /** Reproducer.root() (MQB_HOME, else the working directory), or the nearest parent with scripts/guest. */
    static Path repoRoot() {
        Path root = Reproducer.root();
        for (Path p = root; p != null; p = p.getParent()) {
            if (Files.isDirectory(p.resolve("scripts").resolve("guest"))) {
                return p;
            }
        }
        return root;
    }

    @Override
    public Integer call() throws IOException {
        GuestBench.Config c = config();
        try {
            new GuestBench(c, System.out).run();
            return 0;
        } catch (IOException e) {
            System.out.flush();
            cmd.commandLine().getErr().println("mqb guest: " + e.getMessage());
            cmd.commandLine().getErr().flush();
            return 1;
        }
    }
}
