package org.mqblock.experiments.job;

import java.util.List;

/**
 * A finished job: what fio would report, plus what only this block layer can: kicks and
 * interrupts per request, and the CPU each thread asked for and really got.
 *
 * @param runtimeNs the measured window (after the ramp)
 * @param usrCpu process user CPU over the window, percent of one CPU (as fio's usr_cpu)
 * @param sysCpu process system CPU over the window, percent of one CPU
 * @param kicks guest notifications to the device in the window
 * @param interrupts device interrupts to the guest in the window
 * @param verifiedBlocks blocks read back and checked ({@code --verify})
 * @param verifyFailures the first failures' descriptions (empty when all matched)
 * @param verifyFailureCount how many checks failed
 * @param backend the backend process's CPU over the window, when it is another process; else null
 * @param jvm this process's CPU over the window, thread by thread (/proc/self/task): IOThreads,
 *     the main loop, vCPUs, and the JVM's own (JIT, GC)
 */
public record JobResult(JobSpec spec, DirStats read, DirStats write, long runtimeNs, double usrCpu, double sysCpu,
                        long kicks, long interrupts, long verifiedBlocks, List<String> verifyFailures,
                        long verifyFailureCount, List<ThreadPlacement> threads, boolean deviceBroken,
                        BackendCpu backend, BackendCpu jvm) {

    /** Where a thread ran: the CPU it asked for ({@code any}, {@code none}) and what it got. */
    public record ThreadPlacement(String name, String role, String cpuAsked, int cpuBound, boolean bound) {}

    /** Percent of one CPU the named thread of this process used over the window (0 if it did not run). */
    public double threadCpuPercent(String name) {
        long ticks = 0;
        for (BackendCpu.ThreadCpu t : jvm.threads()) {
            if (t.name().equals(name)) {
                ticks += t.ticks();
            }
        }
        return ProcessCpu.percent(ticks, runtimeNs / 1e9);
    }

    /** The busiest of the device's own threads here (IOThreads, sq-global's main loop), percent of one CPU. */
    public double busiestDeviceThreadPercent() {
        double max = 0;
        for (ThreadPlacement t : threads) {
            if (t.role().equals("iothread")) {
                max = Math.max(max, threadCpuPercent(t.name()));
            }
        }
        return max;
    }

    /** The mean over the job threads (vCPUs), percent of one CPU. */
    public double meanJobThreadPercent() {
        double sum = 0;
        int n = 0;
        for (ThreadPlacement t : threads) {
            if (!t.role().equals("iothread")) {
                sum += threadCpuPercent(t.name());
                n++;
            }
        }
        return n == 0 ? 0 : sum / n;
    }

    /**
     * Microseconds of CPU per I/O over the window, everything that served it: this whole process
     * (guest model, device, JVM) plus the backend process when there is one.
     */
    public double cpuUsPerIo() {
        long ticks = jvm.usrTicks() + jvm.sysTicks() + (backend == null ? 0 : backend.usrTicks() + backend.sysTicks());
        return totalIos() == 0 ? Double.NaN : ticks * 10_000.0 / totalIos();
    }

    /** Microseconds of CPU per I/O of the device's own threads here (IOThreads, main loop). */
    public double deviceCpuUsPerIo() {
        double pct = 0;
        for (ThreadPlacement t : threads) {
            if (t.role().equals("iothread")) {
                pct += threadCpuPercent(t.name());
            }
        }
        return totalIos() == 0 ? Double.NaN : pct / 100.0 * (runtimeNs / 1e3) / totalIos();
    }

    public long totalIos() {
        return read.ios + write.ios;
    }

    public double iops() {
        return totalIos() * 1e9 / runtimeNs;
    }

    public double interruptsPerRequest() {
        return totalIos() == 0 ? 0 : (double) interrupts / totalIos();
    }

    public double kicksPerRequest() {
        return totalIos() == 0 ? 0 : (double) kicks / totalIos();
    }

    public long errors() {
        return read.errors + write.errors;
    }

    /** Latency (submission to reaped completion) over both directions. */
    public org.HdrHistogram.Histogram latNs() {
        org.HdrHistogram.Histogram h = DirStats.newHistogram();
        h.add(read.lat);
        h.add(write.lat);
        return h;
    }

    /** Whether it did what was asked without an error: no failed request, verify clean, device healthy. */
    public boolean ok() {
        return errors() == 0 && verifyFailureCount == 0 && !deviceBroken;
    }
}
