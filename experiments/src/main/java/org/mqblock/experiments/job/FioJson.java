package org.mqblock.experiments.job;

import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.Map;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;
import org.mqblock.experiments.JsonOut;
import org.mqblock.experiments.MachineInfo;

/**
 * A {@link JobResult} as fio 3.33's {@code --output-format=json} or {@code json+} writes one
 * group-reported job (stat.c show_thread_status_json), key for key where fio's meaning applies, so
 * that tools built for fio (fio-plot, fio_jsonplus_clat2csv) read it: per direction io_bytes, bw
 * (KiB/s) and bw_bytes as fio's integer arithmetic gives them, iops, runtime (ms), total_ios,
 * slat_ns/clat_ns/lat_ns (percentiles, and with json+ bins, only where the direction has samples),
 * bw_min/max/agg/mean/dev/samples and iops_min/max/mean/stddev/samples from 500 ms samples
 * ({@link RateSampler}); then usr_cpu/sys_cpu of the job threads, iodepth_level and
 * latency_ns/us/ms ({@link IoDistribution}). FioCompatibilityTest compares it with a real fio
 * 3.33 file and names where they legitimately differ. What fio has no key for lives under
 * "mqblock": the machine, process CPU, where each thread ran, kicks and interrupts per request,
 * verify; "interrupted" says whether Ctrl-C or SIGTERM ended the window early.
 */
public final class FioJson {

    /** fio's default percentile list. */
    static final double[] PERCENTILES = {1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.5, 99.9, 99.95, 99.99};

    /** ctime(3)'s layout without the newline, as fio's "time": {@code Tue Dec  1 17:09:31 2026}. */
    private static final DateTimeFormatter CTIME = DateTimeFormatter.ofPattern("EEE MMM ppd HH:mm:ss yyyy", Locale.ROOT);

    private FioJson() {}

    /** json+ (with the latency bins). */
    public static String write(JobResult r, MachineInfo machine, long timestampMs) {
        return write(r, machine, timestampMs, true);
    }

    /** {@code --output-format=json} ({@code plus} false) or {@code json+}. */
    public static String write(JobResult r, MachineInfo machine, long timestampMs, boolean plus) {
        JsonOut j = new JsonOut().beginObject();
        j.field("fio version", version());
        j.field("timestamp", timestampMs / 1000);
        j.field("timestamp_ms", timestampMs);
        j.field("time", ctime(timestampMs));
        j.name("jobs").beginArray().beginObject();
        Map<String, String> options = r.spec().fioOptions();
        j.field("jobname", options.get("name"));
        j.field("groupid", 0);
        j.field("error", r.ok() ? 0 : 5); // EIO, as fio reports a failed job
        j.field("eta", 0);
        j.field("elapsed", Math.round((r.spec().rampMs() * 1_000_000 + r.runtimeNs()) / 1e9));
        j.name("job options").beginObject();
        options.forEach(j::field);
        logOptions(j, r.logs());
        j.endObject();
        direction(j, "read", r.read(), r.runtimeNs(), plus);
        direction(j, "write", r.write(), r.runtimeNs(), plus);
        direction(j, "trim", new DirStats(), r.runtimeNs(), plus);
        j.name("sync").beginObject().field("total_ios", 0);
        latency(j, "lat_ns", DirStats.newHistogram(), false);
        j.endObject();
        j.field("job_runtime", r.runtimeNs() / 1_000_000);
        j.field("usr_cpu", r.jobUsrCpu());
        j.field("sys_cpu", r.jobSysCpu());
        distributions(j, r.dist(), r.totalIos());
        j.field("latency_depth", r.spec().iodepth());
        j.field("latency_target", 0);
        j.field("latency_percentile", 100.0);
        j.field("latency_window", 0);
        j.endObject().endArray();
        j.field("interrupted", r.interrupted());
        mqblock(j, r, machine);
        return j.endObject().toString();
    }

    /** {@code mqb-X.Y}, fio's {@code fio-X.Y} with our name: the build's version, major and minor. */
    static String version() {
        String v = FioJson.class.getPackage().getImplementationVersion();
        String[] parts = (v == null ? "0.1" : v).split("[.-]");
        return "mqb-" + parts[0] + (parts.length > 1 ? "." + parts[1] : "");
    }

    static String ctime(long timestampMs) {
        return CTIME.format(Instant.ofEpochMilli(timestampMs).atZone(ZoneId.systemDefault()));
    }

    private static void logOptions(JsonOut j, JobLogs logs) {
        if (logs.lat() != null) {
            j.field("write_lat_log", logs.lat());
        }
        if (logs.iops() != null) {
            j.field("write_iops_log", logs.iops());
        }
        if (logs.bw() != null) {
            j.field("write_bw_log", logs.bw());
        }
        if (logs.any()) {
            j.field("log_avg_msec", String.valueOf(logs.avgMs()));
            if (logs.offset()) {
                j.field("log_offset", "1");
            }
        }
    }

    /** fio's integer bytes per second: 1000 * io_bytes / runtime in ms. */
    private static long bytesPerSecond(DirStats d, long runtimeNs) {
        long ms = d.ios() == 0 ? 0 : runtimeNs / 1_000_000;
        return ms == 0 ? 0 : 1000 * d.bytes() / ms;
    }

    /**
     * fio's bw_agg (convert_agg_kbytes_percent): the job's mean sampled bandwidth as a percent of
     * its group's aggregate bandwidth in that direction, at most 100; 0 without samples.
     */
    static double aggShare(DirStats d, long runtimeNs) {
        RateStat bw = d.bwSamples();
        long agg = bytesPerSecond(d, runtimeNs);
        if (bw.samples() == 0) {
            return 0;
        }
        return agg > 1024 ? Math.min(100.0, (long) bw.mean() * 100.0 / (agg / 1024.0)) : 100.0;
    }

    private static void direction(JsonOut j, String name, DirStats d, long runtimeNs, boolean plus) {
        long ms = d.ios() == 0 ? 0 : runtimeNs / 1_000_000;
        long bwBytes = bytesPerSecond(d, runtimeNs);
        j.name(name).beginObject();
        j.field("io_bytes", d.bytes());
        j.field("io_kbytes", d.bytes() >> 10);
        j.field("bw_bytes", bwBytes);
        j.field("bw", bwBytes / 1024);
        j.field("iops", ms == 0 ? 0.0 : 1000.0 * d.ios() / ms);
        j.field("runtime", ms);
        j.field("total_ios", d.ios());
        j.field("short_ios", 0);
        j.field("drop_ios", 0);
        latency(j, "slat_ns", d.slatNs(), false);
        latency(j, "clat_ns", d.clatNs(), plus);
        latency(j, "lat_ns", d.latNs(), false);
        RateStat bw = d.bwSamples();
        double share = aggShare(d, runtimeNs);
        j.field("bw_min", bw.min());
        j.field("bw_max", bw.max());
        j.field("bw_agg", share);
        j.field("bw_mean", bw.mean());
        j.field("bw_dev", bw.stddev());
        j.field("bw_samples", bw.samples());
        RateStat iops = d.iopsSamples();
        j.field("iops_min", iops.min());
        j.field("iops_max", iops.max());
        j.field("iops_mean", iops.mean());
        j.field("iops_stddev", iops.stddev());
        j.field("iops_samples", iops.samples());
        j.endObject();
    }

    /**
     * fio's add_ddir_lat_json: min/max/mean/stddev/N, and only where there are samples and the
     * latency is the one fio gives percentiles for (clat by default), the percentiles and, with
     * json+, the bins (an empty direction has neither: fio_jsonplus_clat2csv relies on it).
     */
    private static void latency(JsonOut j, String name, Histogram h, boolean plus) {
        long n = h.getTotalCount();
        j.name(name).beginObject();
        j.field("min", n == 0 ? 0 : h.getMinValue());
        j.field("max", n == 0 ? 0 : h.getMaxValue());
        j.field("mean", n == 0 ? 0.0 : h.getMean());
        j.field("stddev", n <= 1 ? 0.0 : h.getStdDeviation());
        j.field("N", n);
        if (n > 0 && name.equals("clat_ns")) {
            j.name("percentile").beginObject();
            for (double p : PERCENTILES) {
                j.field(String.format(Locale.ROOT, "%.6f", p), h.getValueAtPercentile(p));
            }
            j.endObject();
            if (plus) {
                // latency (ns, the bucket's representative value) -> count
                j.name("bins").beginObject();
                for (HistogramIterationValue v : h.recordedValues()) {
                    j.field(String.valueOf(h.highestEquivalentValue(v.getValueIteratedTo())), v.getCountAtValueIteratedTo());
                }
                j.endObject();
            }
        }
        j.endObject();
    }

    /** iodepth_level and latency_ns/us/ms (iodepth_submit/complete count engine batches, which a virtqueue has not). */
    private static void distributions(JsonOut j, IoDistribution d, long total) {
        j.name("iodepth_level").beginObject();
        for (int i = 0; i < IoDistribution.DEPTHS.length; i++) {
            j.field(IoDistribution.DEPTHS[i], IoDistribution.percent(d.depth[i], total, 0.1));
        }
        j.endObject();
        buckets(j, "latency_ns", IoDistribution.NS_US, d.latNs, total);
        buckets(j, "latency_us", IoDistribution.NS_US, d.latUs, total);
        buckets(j, "latency_ms", IoDistribution.MS, d.latMs, total);
    }

    private static void buckets(JsonOut j, String name, String[] labels, long[] counts, long total) {
        j.name(name).beginObject();
        for (int i = 0; i < labels.length; i++) {
            j.field(labels[i], IoDistribution.percent(counts[i], total, 0.01));
        }
        j.endObject();
    }

    private static void mqblock(JsonOut j, JobResult r, MachineInfo machine) {
        j.name("mqblock").beginObject();
        j.name("machine").raw(machine.toJson());
        j.name("process_cpu").beginObject().field("usr_cpu", r.usrCpu()).field("sys_cpu", r.sysCpu()).endObject();
        j.field("kicks", r.kicks());
        j.field("interrupts", r.interrupts());
        j.field("kicks_per_request", r.kicksPerRequest());
        j.field("interrupts_per_request", r.interruptsPerRequest());
        j.field("device_broken", r.deviceBroken());
        j.name("verify").beginObject();
        j.field("enabled", r.spec().verify());
        j.field("blocks_checked", r.verifiedBlocks());
        j.field("failures", r.verifyFailureCount());
        j.name("first_failures").beginArray();
        r.verifyFailures().forEach(j::value);
        j.endArray().endObject();
        BackendCpu b = r.backend();
        if (b != null) {
            double seconds = r.runtimeNs() / 1e9;
            j.name("backend").beginObject();
            j.field("pid", b.pid());
            j.field("usr_cpu", b.percent(b.usrTicks(), seconds));
            j.field("sys_cpu", b.percent(b.sysTicks(), seconds));
            j.field("cpu_us_per_io", b.microsPerIo(r.totalIos()));
            j.name("threads").beginArray();
            for (BackendCpu.ThreadCpu t : b.threads()) {
                j.beginObject().field("tid", t.tid()).field("name", t.name()).field("cpu", b.percent(t.ticks(), seconds))
                        .field("last_cpu", t.lastCpu()).endObject();
            }
            j.endArray().endObject();
        }
        cpu(j, r);
        j.name("threads").beginArray();
        for (JobResult.ThreadPlacement t : r.threads()) {
            j.beginObject().field("name", t.name()).field("role", t.role()).field("cpu_asked", t.cpuAsked())
                    .field("cpu_bound", t.cpuBound()).field("bound", t.bound()).endObject();
        }
        j.endArray().endObject();
    }

    /** This process's CPU over the window: per I/O, and thread by thread (/proc/self/task). */
    private static void cpu(JsonOut j, JobResult r) {
        double seconds = r.runtimeNs() / 1e9;
        j.field("cpu_us_per_io", r.cpuUsPerIo());
        j.field("device_cpu_us_per_io", r.deviceCpuUsPerIo());
        j.name("thread_cpu").beginArray();
        for (BackendCpu.ThreadCpu t : r.jvm().threads()) {
            j.beginObject().field("tid", t.tid()).field("name", t.name()).field("cpu", ProcessCpu.percent(t.ticks(), seconds))
                    .field("last_cpu", t.lastCpu()).endObject();
        }
        j.endArray();
    }
}
