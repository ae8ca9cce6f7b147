package org.mqblock.experiments.guest;

import java.util.List;
import java.util.Map;

/**
 * What a guest's fio reported ({@code --output-format=json}), summed over its jobs: IOPS per
 * direction, completion-latency p99 per direction, and errors.
 *
 * <p>Percentiles cannot be combined across jobs; with one job per report (fio's
 * {@code group_reporting}, which {@code mqb guest} sets) they are exact, otherwise the p99 given is
 * the largest job's, and {@link #jobs()} says how many there were.
 *
 * @param jobs job entries in the report
 * @param errors the sum of the jobs' {@code error} fields (0: no job failed)
 * @param readIops read IOPS ({@code read.iops}, summed)
 * @param writeIops write IOPS
 * @param trimIops trim (discard) IOPS
 * @param readIos completed reads ({@code read.total_ios}, summed)
 * @param writeIos completed writes
 * @param trimIos completed trims
 * @param readP99Us read completion latency p99 in microseconds (NaN without reads)
 * @param writeP99Us write completion latency p99 in microseconds (NaN without writes)
 */
public record FioReport(int jobs, long errors, double readIops, double writeIops, double trimIops, long readIos,
        long writeIos, long trimIos, double readP99Us, double writeP99Us) {

    /** Every direction's IOPS together. */
    public double iops() {
        return readIops + writeIops + trimIops;
    }

    /** Parses fio's JSON; text before the first '{' (warnings fio printed) is skipped. */
    public static FioReport parse(String text) {
        int start = text.indexOf('{');
        if (start < 0) {
            throw new IllegalArgumentException("no JSON in fio's output: "
                    + text.substring(0, Math.min(200, text.length())));
        }
        Object doc = Json.parse(text.substring(start).strip());
        if (!(Json.at(doc, "jobs") instanceof List<?> jobs) || jobs.isEmpty()) {
            throw new IllegalArgumentException("fio's JSON has no jobs");
        }
        long errors = 0;
        double[] iops = new double[3];
        long[] ios = new long[3];
        double[] p99 = {Double.NaN, Double.NaN, Double.NaN};
        String[] dirs = {"read", "write", "trim"};
        for (Object job : jobs) {
            errors += (long) Json.number(job, "error");
            for (int d = 0; d < 3; d++) {
                double n = Json.number(job, dirs[d], "iops");
                long c = (long) Json.number(job, dirs[d], "total_ios");
                iops[d] += Double.isNaN(n) ? 0 : n;
                ios[d] += c;
                if (c > 0) {
                    double p = percentile99(job, dirs[d]);
                    p99[d] = Double.isNaN(p99[d]) ? p : Math.max(p99[d], p);
                }
            }
        }
        return new FioReport(jobs.size(), errors, iops[0], iops[1], iops[2], ios[0], ios[1], ios[2], p99[0], p99[1]);
    }

    private static double percentile99(Object job, String dir) {
        Object pct = Json.at(job, dir, "clat_ns", "percentile");
        if (pct instanceof Map<?, ?> m && m.get("99.000000") instanceof Double ns) {
            return ns / 1e3;
        }
        return Double.NaN;
    }
}
