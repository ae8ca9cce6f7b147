package org.mqblock.experiments.job;

/**
 * fio's per-job logs: {@code write_lat_log} (three files: PREFIX_lat, _clat, _slat),
 * {@code write_iops_log}, {@code write_bw_log}, each {@code PREFIX_TYPE.JOB.log} with JOB counted
 * from 1, and {@code log_avg_msec} (0: one entry per request; else one per direction per window,
 * the mean of that window) and {@code log_offset} (a request's offset as a column).
 *
 * @param lat prefix of the latency logs, or null for none
 * @param iops prefix of the IOPS log, or null
 * @param bw prefix of the bandwidth log, or null
 */
public record JobLogs(String lat, String iops, String bw, long avgMs, boolean offset) {

    public static final JobLogs NONE = new JobLogs(null, null, null, 0, false);

    public JobLogs {
        if (avgMs < 0) {
            throw new IllegalArgumentException("--log_avg_msec: invalid value " + avgMs + " (must be >= 0)");
        }
        for (String p : new String[] {lat, iops, bw}) {
            if (p != null && p.isBlank()) {
                throw new IllegalArgumentException("a log prefix may not be empty");
            }
        }
    }

    public boolean any() {
        return lat != null || iops != null || bw != null;
    }

    /** Whether the IOPS and bandwidth logs are written per window by the sampler, not per request. */
    boolean averagedRates() {
        return avgMs > 0;
    }

    /** fio's file name: {@code PREFIX_TYPE.JOB.log}. */
    static String file(String prefix, String type, int job) {
        return prefix + "_" + type + "." + (job + 1) + ".log";
    }
}
