package org.mqblock.experiments.job;

/**
 * fio's {@code io_u_map} and {@code io_u_lat_n/u/m}: how many measured requests were submitted at
 * each queue depth (1, 2-3, 4-7, 8-15, 16-31, 32-63, 64+ in flight, itself included, as fio's
 * io_u_mark_depth counts) and how many completed within each completion-latency bucket
 * (io_u_mark_latency, on clat). Written by one job thread (plain), read by the main loop after
 * joining it.
 */
public final class IoDistribution {

    /** Labels of the depth buckets, as fio's JSON writes them. */
    static final String[] DEPTHS = {"1", "2", "4", "8", "16", "32", ">=64"};
    /** Upper bounds of the nanosecond and microsecond buckets (fio's labels). */
    static final String[] NS_US = {"2", "4", "10", "20", "50", "100", "250", "500", "750", "1000"};
    /** Upper bounds of the millisecond buckets. */
    static final String[] MS = {"2", "4", "10", "20", "50", "100", "250", "500", "750", "1000", "2000", ">=2000"};
    private static final int[] BOUNDS = {2, 4, 10, 20, 50, 100, 250, 500, 750, 1000, 2000};

    final long[] depth = new long[DEPTHS.length];
    final long[] latNs = new long[NS_US.length];
    final long[] latUs = new long[NS_US.length];
    final long[] latMs = new long[MS.length];

    void markDepth(int inFlight) {
        int i = inFlight <= 1 ? 0 : Math.min(6, 31 - Integer.numberOfLeadingZeros(inFlight));
        depth[i]++;
    }

    void markLatency(long ns) {
        if (ns < 1000) {
            latNs[bucket(ns, 9)]++;
        } else if (ns < 1_000_000) {
            latUs[bucket(ns / 1000, 9)]++;
        } else {
            latMs[bucket(ns / 1_000_000, 11)]++;
        }
    }

    /** The first bucket whose bound exceeds v (fio's "case 250 ... 499: idx = 7"), at most last. */
    private static int bucket(long v, int last) {
        for (int i = 0; i < last; i++) {
            if (v < BOUNDS[i]) {
                return i;
            }
        }
        return last;
    }

    void add(IoDistribution o) {
        for (int i = 0; i < depth.length; i++) {
            depth[i] += o.depth[i];
        }
        for (int i = 0; i < latNs.length; i++) {
            latNs[i] += o.latNs[i];
            latUs[i] += o.latUs[i];
        }
        for (int i = 0; i < latMs.length; i++) {
            latMs[i] += o.latMs[i];
        }
    }

    /**
     * fio's stat_calc_dist / stat_calc_lat: percent of {@code total}, with a non-zero count never
     * shown below {@code floor} (0.1 for depths, 0.01 for latencies).
     */
    static double percent(long count, long total, double floor) {
        if (total == 0) {
            return 0;
        }
        double p = 100.0 * count / total;
        return count > 0 && p < floor ? floor : p;
    }
}
