package org.mqblock.experiments.job;

import java.util.Locale;
import org.HdrHistogram.Histogram;
import org.mqblock.experiments.MachineInfo;
import org.mqblock.experiments.Units;

/**
 * A {@link JobResult} in the shape of fio's human summary ({@code --output-format=normal}, stat.c
 * show_thread_status_normal and show_group_stats): the job line, per direction IOPS and bandwidth,
 * slat/clat/lat, clat percentiles, the bandwidth and IOPS samples, the latency buckets, cpu, IO
 * depths, issued requests and the run status group; then what only this block layer reports
 * (backend CPU, kicks and interrupts, thread placement, verify, machine).
 */
public final class FioNormal {

    private FioNormal() {}

    public static String write(JobResult r, MachineInfo machine, long timestampMs) {
        JobSpec s = r.spec();
        StringBuilder b = new StringBuilder();
        if (s.isVhostUser()) {
            b.append(String.format(Locale.ROOT, "mqb-%s: (g=0): rw=%s, bs=%s, iodepth=%d, numjobs=%d, target=%s, queues=%d,"
                            + " event_idx=%s, polling=%s%n", s.rw(), s.rw(), Units.fioSize(s.bs()), s.iodepth(), s.numjobs(),
                    s.target(), s.virtqueues(), s.eventIdx() ? "on" : "off", s.guestPoll() ? "on" : "off"));
        } else {
            b.append(String.format(Locale.ROOT, "mqb-%s: (g=0): rw=%s, bs=%s, iodepth=%d, numjobs=%d, mode=%s, queues=%d,"
                            + " iothreads=%d, backend=%s, defer_call=%s, poll_max_ns=%d%n", s.rw(), s.rw(), Units.fioSize(s.bs()),
                    s.iodepth(), s.numjobs(), s.mode().label, s.virtqueues(), s.iothreadCount(), s.backend(),
                    s.deferCall() ? "on" : "off", s.pollMaxNs()));
        }
        b.append(String.format(Locale.ROOT, "mqb-%s: (groupid=0, jobs=%d): err=%2d: pid=%d: %s%n", s.rw(), s.numjobs(),
                r.ok() ? 0 : 5, ProcessHandle.current().pid(), FioJson.ctime(timestampMs)));
        direction(b, "read", r.read(), r.runtimeNs());
        direction(b, "write", r.write(), r.runtimeNs());
        latencyBuckets(b, r);
        b.append(String.format(Locale.ROOT, "  cpu          : usr=%.2f%%, sys=%.2f%% (job threads; process: usr=%.2f%%, sys=%.2f%%)%n",
                r.jobUsrCpu(), r.jobSysCpu(), r.usrCpu(), r.sysCpu()));
        IoDistribution d = r.dist();
        b.append("  IO depths    :");
        for (int i = 0; i < IoDistribution.DEPTHS.length; i++) {
            b.append(String.format(Locale.ROOT, "%s %s=%.1f%%", i == 0 ? "" : ",", IoDistribution.DEPTHS[i],
                    IoDistribution.percent(d.depth[i], r.totalIos(), 0.1)));
        }
        b.append('\n');
        b.append(String.format(Locale.ROOT, "     issued rwts: total=%d,%d,0,0 short=0,0,0,0 dropped=0,0,0,0%n",
                r.read().ios(), r.write().ios()));
        b.append(String.format(Locale.ROOT, "     latency   : target=0, window=0, percentile=100.00%%, depth=%d%n", s.iodepth()));
        extras(b, r, machine);
        b.append("\nRun status group 0 (all jobs):\n");
        group(b, "   READ", r.read(), r.runtimeNs());
        group(b, "  WRITE", r.write(), r.runtimeNs());
        if (r.interrupted()) {
            b.append("(interrupted: the window ended early; these are the requests measured until then)\n");
        }
        return b.toString();
    }

    private static void direction(StringBuilder b, String name, DirStats d, long runtimeNs) {
        if (d.ios() == 0) {
            return;
        }
        long ms = runtimeNs / 1_000_000;
        double bw = d.bytesPerSecond(runtimeNs);
        b.append(String.format(Locale.ROOT, "  %s: IOPS=%s, BW=%s (%s)(%s/%dmsec)%n", name, Units.count(d.iops(runtimeNs)),
                binary(bw) + "/s", decimal(bw) + "/s", binary(d.bytes()), ms));
        latency(b, "slat", d.slatNs());
        latency(b, "clat", d.clatNs());
        latency(b, " lat", d.latNs());
        Histogram c = d.clatNs();
        b.append("    clat percentiles (usec):\n");
        for (int i = 0; i < FioJson.PERCENTILES.length; i++) {
            b.append(i % 4 == 0 ? "     |" : "").append(String.format(Locale.ROOT, " %5.2fth=[%5d]%s",
                    FioJson.PERCENTILES[i], (c.getValueAtPercentile(FioJson.PERCENTILES[i]) + 999) / 1000,
                    i == FioJson.PERCENTILES.length - 1 ? "\n" : i % 4 == 3 ? ",\n" : ","));
        }
        RateStat s = d.bwSamples();
        b.append(String.format(Locale.ROOT, "   bw (  KiB/s): min=%d, max=%d, per=%.2f%%, avg=%.2f, stdev=%.2f, samples=%d%n",
                s.min(), s.max(), FioJson.aggShare(d, runtimeNs), s.mean(), s.stddev(), s.samples()));
        RateStat i = d.iopsSamples();
        b.append(String.format(Locale.ROOT, "   iops        : min=%d, max=%d, avg=%.2f, stdev=%.2f, samples=%d%n",
                i.min(), i.max(), i.mean(), i.stddev(), i.samples()));
    }

    private static void latency(StringBuilder b, String name, Histogram h) {
        b.append(String.format(Locale.ROOT, "    %s (usec): min=%.2f, max=%.2f, avg=%.2f, stdev=%.2f%n", name,
                h.getMinValue() / 1e3, h.getMaxValue() / 1e3, h.getMean() / 1e3, h.getStdDeviation() / 1e3));
    }

    /** fio's "lat (usec)   : 50=0.73%, 100=86.05%" lines: the non-empty buckets of each unit. */
    private static void latencyBuckets(StringBuilder b, JobResult r) {
        IoDistribution d = r.dist();
        bucketLine(b, "nsec", IoDistribution.NS_US, d.latNs, r.totalIos());
        bucketLine(b, "usec", IoDistribution.NS_US, d.latUs, r.totalIos());
        bucketLine(b, "msec", IoDistribution.MS, d.latMs, r.totalIos());
    }

    private static void bucketLine(StringBuilder b, String unit, String[] labels, long[] counts, long total) {
        StringBuilder line = new StringBuilder();
        for (int i = 0; i < labels.length; i++) {
            if (counts[i] > 0) {
                line.append(line.length() == 0 ? "" : ", ").append(labels[i]).append('=')
                        .append(String.format(Locale.ROOT, "%.2f%%", IoDistribution.percent(counts[i], total, 0.01)));
            }
        }
        if (line.length() > 0) {
            b.append(String.format(Locale.ROOT, "  lat (%s)   : ", unit)).append(line).append('\n');
        }
    }

    private static void extras(StringBuilder b, JobResult r, MachineInfo machine) {
        if (r.backend() != null) {
            BackendCpu c = r.backend();
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
            b.append(' ').append(t.name()).append(t.bound() ? "@cpu" + t.cpuBound()
                    : "(unpinned" + ("none".equals(t.cpuAsked()) ? ")" : ", asked " + t.cpuAsked() + ")"));
        }
        b.append('\n');
        if (r.spec().verify()) {
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
    }

    private static void group(StringBuilder b, String name, DirStats d, long runtimeNs) {
        if (d.ios() == 0) {
            return;
        }
        double bw = d.bytesPerSecond(runtimeNs);
        long ms = runtimeNs / 1_000_000;
        b.append(String.format(Locale.ROOT, "%s: bw=%s/s (%s/s), %s/s-%s/s (%s/s-%s/s), io=%s (%s), run=%d-%dmsec%n", name,
                binary(bw), decimal(bw), binary(bw), binary(bw), decimal(bw), decimal(bw), binary(d.bytes()),
                decimal(d.bytes()), ms, ms));
    }

    /** fio's num2str with power-of-two units: {@code 175MiB}, {@code 1234KiB}. */
    static String binary(double v) {
        return scaled(v, 1024, new String[] {"B", "KiB", "MiB", "GiB", "TiB"});
    }

    static String decimal(double v) {
        return scaled(v, 1000, new String[] {"B", "kB", "MB", "GB", "TB"});
    }

    private static String scaled(double v, double base, String[] units) {
        int u = 0;
        while (v >= 10_000 && u < units.length - 1) {
            v /= base;
            u++;
        }
        return (v >= 100 || u == 0 ? String.format(Locale.ROOT, "%.0f", v) : String.format(Locale.ROOT, "%.1f", v)) + units[u];
    }
}
