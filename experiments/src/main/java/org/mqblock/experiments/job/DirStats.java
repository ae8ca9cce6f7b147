package org.mqblock.experiments.job;

import org.HdrHistogram.Histogram;

/**
 * One direction (read or write) of a finished job, summed over its vCPUs: counts and the three
 * latencies fio reports. {@code slat}: building and publishing the request, kick included;
 * {@code clat}: from then to its completion being reaped; {@code lat}: the two together.
 */
public final class DirStats {

    /** Up to a minute, 3 significant digits: what fio's percentiles need. */
    static Histogram newHistogram() {
        return new Histogram(60_000_000_000L, 3);
    }

    final Histogram slat = newHistogram();
    final Histogram clat = newHistogram();
    final Histogram lat = newHistogram();
    long ios;
    long bytes;
    long errors;
    /** The sampler's bandwidth (KiB/s) and IOPS samples (see {@link RateSampler}); set by the main loop. */
    RateStat bwStat = new RateStat();
    RateStat iopsStat = new RateStat();

    void add(DirStats o) {
        slat.add(o.slat);
        clat.add(o.clat);
        lat.add(o.lat);
        ios += o.ios;
        bytes += o.bytes;
        errors += o.errors;
    }

    public long ios() {
        return ios;
    }

    public long bytes() {
        return bytes;
    }

    /** Requests that completed with a status other than OK. */
    public long errors() {
        return errors;
    }

    public Histogram slatNs() {
        return slat;
    }

    public Histogram clatNs() {
        return clat;
    }

    public Histogram latNs() {
        return lat;
    }

    /** Bandwidth samples in KiB/s, one per interval in which this direction did I/O. */
    public RateStat bwSamples() {
        return bwStat;
    }

    public RateStat iopsSamples() {
        return iopsStat;
    }

    public double iops(long runtimeNs) {
        return runtimeNs <= 0 ? 0 : ios * 1e9 / runtimeNs;
    }

    public double bytesPerSecond(long runtimeNs) {
        return runtimeNs <= 0 ? 0 : bytes * 1e9 / runtimeNs;
    }
}
