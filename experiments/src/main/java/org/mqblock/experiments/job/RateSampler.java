package org.mqblock.experiments.job;

import java.util.List;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * fio's bw_avg_time / iops_avg_time sampling (stat.c __add_samples): every interval (500 ms, or
 * {@code log_avg_msec} when the IOPS or bandwidth log is averaged), each job's bytes and requests
 * completed in each direction since the last sample become one bandwidth sample (KiB/s) and one
 * IOPS sample; an interval in which a direction did nothing adds no sample. The jobs' statistics
 * are then added up as fio's group_reporting does ({@link RateStat#addJob}). Averaged IOPS and
 * bandwidth logs get one entry per sample (block size 0, as fio 3.33 writes them).
 *
 * <p>Each job publishes its counters in an {@link AtomicLongArray}: {@code [ios read, ios write,
 * bytes read, bytes write]}, written by its thread only (setOpaque), read here (getOpaque). Not
 * threadsafe otherwise: the main loop only.
 */
final class RateSampler {

    static final long DEFAULT_INTERVAL_MS = 500;

    private final List<AtomicLongArray> counters;
    private final long intervalNs;
    private final long epochNs;
    private final List<IoLog.JobSet> logs;
    private final RateStat[][] bw;
    private final RateStat[][] iops;
    private final long[][] last;
    private long lastNs;

    /** {@code logs}: per job, the sets whose iops/bw logs take averaged entries; null for none. */
    RateSampler(List<AtomicLongArray> counters, long intervalMs, long epochNs, List<IoLog.JobSet> logs) {
        this.counters = counters;
        this.intervalNs = intervalMs * 1_000_000;
        this.epochNs = epochNs;
        this.logs = logs;
        int n = counters.size();
        bw = new RateStat[n][2];
        iops = new RateStat[n][2];
        last = new long[n][4];
        for (int j = 0; j < n; j++) {
            for (int d = 0; d < 2; d++) {
                bw[j][d] = new RateStat();
                iops[j][d] = new RateStat();
            }
            for (int k = 0; k < 4; k++) {
                last[j][k] = counters.get(j).getOpaque(k);
            }
        }
        lastNs = epochNs;
    }

    /** When the next sample is due. */
    long nextNs() {
        return lastNs + intervalNs;
    }

    /** Takes a sample if an interval has passed (fio allows 1 ms of slack). */
    void tick(long nowNs) {
        long spentMs = (nowNs - lastNs) / 1_000_000;
        if (nowNs - lastNs < intervalNs - 1_000_000) {
            return;
        }
        long t = (nowNs - epochNs) / 1_000_000;
        for (int j = 0; j < counters.size(); j++) {
            AtomicLongArray c = counters.get(j);
            for (int d = 0; d < 2; d++) {
                long ios = c.getOpaque(d);
                long bytes = c.getOpaque(2 + d);
                long dIos = ios - last[j][d];
                long dBytes = bytes - last[j][2 + d];
                last[j][d] = ios;
                last[j][2 + d] = bytes;
                if (dBytes == 0) {
                    continue; // no entry for this interval
                }
                long kib = spentMs == 0 ? 0 : dBytes * 1000 / spentMs / 1024;
                long rate = spentMs == 0 ? 0 : dIos * 1000 / spentMs;
                bw[j][d].add(kib);
                iops[j][d].add(rate);
                IoLog.JobSet l = logs == null ? null : logs.get(j);
                if (l != null && l.bw != null) {
                    l.bw.add(t, kib, d, 0, 0);
                }
                if (l != null && l.iops != null) {
                    l.iops.add(t, rate, d, 0, 0);
                }
            }
        }
        lastNs = nowNs;
    }

    /** The group's bandwidth statistics (KiB/s) of direction {@code d} (0 read, 1 write). */
    RateStat bw(int d) {
        RateStat s = new RateStat();
        for (RateStat[] j : bw) {
            s.addJob(j[d]);
        }
        return s;
    }

    /** The group's IOPS statistics of direction {@code d}. */
    RateStat iops(int d) {
        RateStat s = new RateStat();
        for (RateStat[] j : iops) {
            s.addJob(j[d]);
        }
        return s;
    }
}
