package org.mqblock.experiments.job;

/**
 * fio's {@code struct io_stat} for bandwidth and IOPS samples: min, max, mean and the running sum
 * of squares (Welford) of one job's per-interval rates, and fio's {@code sum_stat(..., pure_sum)}
 * that group reporting uses to add jobs up (mins, maxes, means and samples are summed, not merged).
 * Not threadsafe: the main loop only.
 */
public final class RateStat {

    private long min = Long.MAX_VALUE;
    private long max;
    private long samples;
    private double mean;
    private double s;

    void add(long v) {
        min = Math.min(min, v);
        max = Math.max(max, v);
        samples++;
        double delta = v - mean;
        mean += delta / samples;
        s += delta * (v - mean);
    }

    /** fio's sum_stat with pure_sum: how group_reporting combines the rates of its jobs. */
    void addJob(RateStat o) {
        if (o.samples == 0) {
            return;
        }
        if (samples == 0) {
            min = o.min;
            max = o.max;
            samples = o.samples;
            mean = o.mean;
            s = o.s;
        } else {
            min += o.min;
            max += o.max;
            samples += o.samples;
            mean += o.mean;
            s += o.s;
        }
    }

    public long samples() {
        return samples;
    }

    public long min() {
        return samples == 0 ? 0 : min;
    }

    public long max() {
        return max;
    }

    public double mean() {
        return mean;
    }

    /** fio's calc_lat: sqrt(S / (n - 1)), 0 for fewer than two samples. */
    public double stddev() {
        return samples > 1 ? Math.sqrt(s / (samples - 1)) : 0;
    }
}
