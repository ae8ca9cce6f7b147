package org.mqblock.block;

import org.HdrHistogram.Histogram;

/** A snapshot of one queue's counters and completion latencies (nanoseconds, submit to complete). */
public record QueueStats(int queue, String context, long reads, long writes, long flushes, long discards,
                         long writeZeroes, long errors, long bytesRead, long bytesWritten, Histogram latencyNs) {

    /** Successful requests of every kind. */
    public long completed() {
        return reads + writes + flushes + discards + writeZeroes;
    }
}
