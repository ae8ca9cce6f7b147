package org.mqblock.experiments.job;

/**
 * What one job writes into its fio logs as its requests complete (fio's add_lat_sample,
 * add_clat_sample, add_slat_sample, and with {@code log_avg_msec=0} add_bw_sample and
 * add_iops_sample). Per request, each log gets one entry; averaged, the latency logs get one entry
 * per direction when its window of {@code log_avg_msec} has passed (fio's add_log_sample: the
 * window's mean rounded, block size 0), and the rest at the end; averaged IOPS and bandwidth are
 * the {@link RateSampler}'s. Not threadsafe: the job's thread, then the main loop after the join.
 */
final class JobLogger {

    private final IoLog.JobSet logs;
    private final long avgMs;
    private final long epochNs;
    /** Averaged latency windows: sums and counts per [log (lat, clat, slat)][direction]. */
    private final long[][] sum = new long[3][2];
    private final long[][] count = new long[3][2];
    private final long[] windowStart = new long[2];

    JobLogger(IoLog.JobSet logs, long avgMs, long epochNs) {
        this.logs = logs;
        this.avgMs = avgMs;
        this.epochNs = epochNs;
    }

    /** A measured completion. Context: the job's thread. */
    void complete(long nowNs, int ddir, long slatNs, long clatNs, long latNs, int bs, long offset) {
        long t = (nowNs - epochNs) / 1_000_000;
        if (avgMs == 0) {
            if (logs.lat != null) {
                logs.lat.add(t, latNs, ddir, bs, offset);
                logs.clat.add(t, clatNs, ddir, bs, offset);
                logs.slat.add(t, slatNs, ddir, bs, offset);
            }
            if (logs.iops != null) {
                logs.iops.add(t, 1, ddir, bs, offset);
            }
            if (logs.bw != null) { // fio: bytes * 1e6 / clat in ns (bytes per ms)
                logs.bw.add(t, clatNs == 0 ? 0 : bs * 1_000_000L / clatNs, ddir, bs, offset);
            }
            return;
        }
        if (logs.lat == null) {
            return;
        }
        long[] v = {latNs, clatNs, slatNs};
        for (int l = 0; l < 3; l++) {
            sum[l][ddir] += v[l];
            count[l][ddir]++;
        }
        // fio flushes a latency log's window once it is done (inline logs get no LOG_MSEC_SLACK).
        if (t - windowStart[ddir] >= avgMs) {
            flush(ddir, t);
            windowStart[ddir] = t - t % avgMs;
        }
    }

    private void flush(int ddir, long t) {
        IoLog[] out = {logs.lat, logs.clat, logs.slat};
        for (int l = 0; l < 3; l++) {
            if (count[l][ddir] > 0) {
                out[l].add(t, (long) (sum[l][ddir] / (double) count[l][ddir] + 0.5), ddir, 0, 0);
            }
            sum[l][ddir] = 0;
            count[l][ddir] = 0;
        }
    }

    /** The windows still open at the end (fio's finalize_logs). Context: the main loop, after the join. */
    void finish(long endNs) {
        if (avgMs > 0 && logs.lat != null) {
            long t = Math.max(0, (endNs - epochNs) / 1_000_000);
            flush(0, t);
            flush(1, t);
        }
    }
}
