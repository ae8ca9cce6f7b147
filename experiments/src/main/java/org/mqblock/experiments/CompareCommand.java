package org.mqblock.experiments;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.mqblock.experiments.figures.Reproducer;
import org.mqblock.experiments.job.Backend;
import org.mqblock.experiments.job.FioJson;
import org.mqblock.experiments.job.JobResult;
import org.mqblock.experiments.job.JobRunner;
import org.mqblock.experiments.job.JobSpec;
import org.mqblock.virtio.VirtioBlkRig.Mode;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code mqb compare} (the default job): the same fio-like job in the three modes, on the embedded
 * memory backend, one after the other in one run, with ratios against the global-mutex baseline.
 */
@Command(name = "compare", mixinStandardHelpOptions = true,
        description = "Run one job in sq-global, sq-iothread and mq mode and compare (the default job).")
final class CompareCommand implements Callable<Integer> {

    @Option(names = "--numjobs", description = "vCPUs (default: the CPU count, at least 2)")
    Integer numjobs;

    @Option(names = "--iodepth", defaultValue = "32", description = "per vCPU (${DEFAULT-VALUE})")
    int iodepth;

    @Option(names = "--runtime", defaultValue = "3", description = "measured seconds per mode (${DEFAULT-VALUE})")
    String runtime;

    @Option(names = "--backend", defaultValue = "memory", description = "null, memory, file, latency, thin (${DEFAULT-VALUE})")
    String backend;

    @CommandLine.Spec CommandLine.Model.CommandSpec cmd;

    @Override
    public Integer call() throws IOException {
        int n = numjobs != null ? numjobs : Math.max(2, Runtime.getRuntime().availableProcessors());
        JobSpec base;
        try {
            base = JobSpec.defaults().toBuilder().numjobs(n).iodepth(iodepth).backend(Backend.parse(backend), "")
                    .times(Units.millis("--runtime", runtime), 500).build();
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cmd.commandLine(), e.getMessage(), e);
        }
        MachineInfo machine = MachineInfo.current();
        System.out.printf("mqblock: %s 4k randread, %d vCPUs x iodepth %d, %s backend, %.1f s per mode%n",
                "virtio-blk", n, iodepth, backend, base.runtimeMs() / 1000.0);
        System.out.println("machine: " + machine.describe());
        Path dir = Files.createDirectories(Reproducer.root().resolve("results").resolve("compare"));
        List<JobResult> results = new ArrayList<>();
        boolean ok = true;
        for (Mode m : Mode.values()) {
            JobResult r = JobRunner.run(base.toBuilder().mode(m).build());
            results.add(r);
            ok &= r.ok();
            Files.writeString(dir.resolve(m.label + ".json"), FioJson.write(r, machine, System.currentTimeMillis()));
        }
        double baseline = results.get(0).iops();
        System.out.printf("%n%-12s %10s %9s %9s %10s %10s %8s %8s %8s  %s%n", "mode", "IOPS", "p50 us", "p99 us", "irq/req",
                "kicks/req", "vs sq-global", "cpu us/IO", "dev us/IO", "threads (% of a CPU)");
        for (JobResult r : results) {
            StringBuilder threads = new StringBuilder();
            for (JobResult.ThreadPlacement t : r.threads()) {
                threads.append(t.name()).append(t.bound() ? "@" + t.cpuBound() : "")
                        .append(String.format(Locale.ROOT, " %.0f%% ", r.threadCpuPercent(t.name())));
            }
            System.out.printf(Locale.ROOT, "%-12s %10.0f %9.1f %9.1f %10.4f %10.4f %11.2fx %9.2f %9.2f  %s%n",
                    r.spec().mode().label, r.iops(), r.latNs().getValueAtPercentile(50) / 1e3,
                    r.latNs().getValueAtPercentile(99) / 1e3, r.interruptsPerRequest(), r.kicksPerRequest(),
                    r.iops() / baseline, r.cpuUsPerIo(), r.deviceCpuUsPerIo(), threads.toString().trim());
        }
        if (n > machine.nproc()) {
            System.out.println("note: " + n + " vCPUs on " + machine.nproc()
                    + " CPUs are oversubscribed; multiqueue scaling needs a CPU per vCPU and IOThread.");
        }
        System.out.println("(@N: pinned to CPU N; N%: the thread's CPU over the window, from /proc/self/task; cpu us/IO:"
                + " the whole process per request, dev: the IOThreads' or main loop's; fio JSON in " + dir
                + "; 'mqb list' shows the paper's figures)");
        return ok ? 0 : 1;
    }
}
