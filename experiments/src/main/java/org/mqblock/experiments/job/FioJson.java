package org.mqblock.experiments.job;

import java.util.Map;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;
import org.mqblock.experiments.JsonOut;
import org.mqblock.experiments.MachineInfo;

/**
 * A {@link JobResult} as fio's {@code --output-format=json+} would write it for one group-reported
 * job, so that tools built for fio (fio-plot, fio_jsonplus_clat2csv) read our results: jobs[] with
 * read/write/trim sections (iops, bw in KiB/s, bw_bytes, io_bytes, runtime in ms, total_ios,
 * slat_ns/clat_ns/lat_ns with percentiles and clat bins), usr_cpu, sys_cpu, "job options". What
 * fio has no field for lives under "mqblock": the machine, where each thread ran, kicks and
 * interrupts per request, verify.
 */
public final class FioJson {

    /** fio's default percentile list. */
    static final double[] PERCENTILES = {1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.5, 99.9, 99.95, 99.99};

    private FioJson() {}

    public static String write(JobResult r, MachineInfo machine, long timestampMs) {
        JsonOut j = new JsonOut().beginObject();
        j.field("fio version", "mqb-" + machine.commit());
        j.field("timestamp", timestampMs / 1000);
        j.field("timestamp_ms", timestampMs);
        j.field("time", new java.util.Date(timestampMs).toString());
        j.name("global options").beginObject();
        options(j, r.spec().fioOptions());
        j.endObject();
        j.name("jobs").beginArray().beginObject();
        j.field("jobname", "mqb-" + r.spec().rw().label);
        j.field("groupid", 0);
        j.field("error", r.ok() ? 0 : 5); // EIO, as fio reports a failed job
        j.field("eta", 0);
        j.field("elapsed", Math.round(r.runtimeNs() / 1e9));
        j.name("job options").beginObject();
        options(j, r.spec().fioOptions());
        j.endObject();
        direction(j, "read", r.read(), r.runtimeNs());
        direction(j, "write", r.write(), r.runtimeNs());
        direction(j, "trim", new DirStats(), r.runtimeNs());
        j.field("job_runtime", r.runtimeNs() / 1_000_000);
        j.field("usr_cpu", r.usrCpu());
        j.field("sys_cpu", r.sysCpu());
        j.endObject().endArray();
        j.name("mqblock").beginObject();
        j.name("machine").raw(machine.toJson());
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
        return j.endObject().toString();
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

    private static void options(JsonOut j, Map<String, String> options) {
        options.forEach(j::field);
    }

    private static void direction(JsonOut j, String name, DirStats d, long runtimeNs) {
        double bwBytes = d.bytesPerSecond(runtimeNs);
        j.name(name).beginObject();
        j.field("io_bytes", d.bytes());
        j.field("io_kbytes", d.bytes() / 1024);
        j.field("bw_bytes", Math.round(bwBytes));
        j.field("bw", Math.round(bwBytes / 1024));
        j.field("iops", d.iops(runtimeNs));
        j.field("runtime", d.ios() == 0 ? 0 : runtimeNs / 1_000_000);
        j.field("total_ios", d.ios());
        j.field("short_ios", 0);
        j.field("drop_ios", 0);
        j.field("error_ios", d.errors());
        latency(j, "slat_ns", d.slatNs(), false);
        latency(j, "clat_ns", d.clatNs(), true);
        latency(j, "lat_ns", d.latNs(), false);
        j.endObject();
    }

    private static void latency(JsonOut j, String name, Histogram h, boolean bins) {
        long n = h.getTotalCount();
        j.name(name).beginObject();
        j.field("min", n == 0 ? 0 : h.getMinValue());
        j.field("max", n == 0 ? 0 : h.getMaxValue());
        j.field("mean", n == 0 ? 0.0 : h.getMean());
        j.field("stddev", n == 0 ? 0.0 : h.getStdDeviation());
        j.field("N", n);
        if (bins) {
            j.name("percentile").beginObject();
            for (double p : PERCENTILES) {
                j.field(String.format(java.util.Locale.ROOT, "%.6f", p), n == 0 ? 0 : h.getValueAtPercentile(p));
            }
            j.endObject();
            // json+: latency (ns, the bucket's representative value) -> count
            j.name("bins").beginObject();
            for (HistogramIterationValue v : h.recordedValues()) {
                j.field(String.valueOf(h.highestEquivalentValue(v.getValueIteratedTo())), v.getCountAtValueIteratedTo());
            }
            j.endObject();
        }
        j.endObject();
    }
}
