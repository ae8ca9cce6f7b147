package org.mqblock.experiments.job;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.atomic.AtomicLongArray;
import org.junit.jupiter.api.Test;

/** fio's arithmetic, value for value: buckets, percent floors, sample statistics, status line. */
class FioStatsTest {

    /** stat.c io_u_mark_lat_*: a bucket holds [previous bound, its bound); 750..999 us is "1000". */
    @Test
    void latenciesLandInFiosBuckets() {
        IoDistribution d = new IoDistribution();
        for (long ns : new long[] {0, 1, 2, 999, 1_000, 1_999, 2_000, 99_999, 100_000, 999_999, 1_000_000,
                1_999_999, 2_000_000, 1_999_000_000L, 2_000_000_000L}) {
            d.markLatency(ns);
        }
        assertArrayEquals(new long[] {2, 1, 0, 0, 0, 0, 0, 0, 0, 1}, d.latNs); // 0,1 | 2 | 999
        assertArrayEquals(new long[] {2, 1, 0, 0, 0, 1, 1, 0, 0, 1}, d.latUs); // 1, 1.999 | 2 | 99.999 | 100 | 999.999 us
        assertArrayEquals(new long[] {2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1}, d.latMs); // 1,1.999 | 2 | 1999 | 2000
    }

    /** io_u_mark_depth: 1, 2-3, 4-7, 8-15, 16-31, 32-63, 64+. */
    @Test
    void depthsLandInFiosBuckets() {
        IoDistribution d = new IoDistribution();
        for (int depth : new int[] {1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 63, 64, 1024}) {
            d.markDepth(depth);
        }
        assertArrayEquals(new long[] {1, 2, 2, 2, 2, 2, 2}, d.depth);
        assertEquals(0.1, IoDistribution.percent(1, 10_000, 0.1), "a non-zero share shows at least the floor");
        assertEquals(0.0, IoDistribution.percent(0, 10_000, 0.1));
        assertEquals(25.0, IoDistribution.percent(1, 4, 0.1));
    }

    /** calc_lat's sample standard deviation, and group_reporting's pure sum of jobs. */
    @Test
    void rateStatisticsAreFios() {
        RateStat a = new RateStat();
        for (long v : new long[] {2, 4, 4, 4, 5, 5, 7, 9}) {
            a.add(v);
        }
        assertEquals(5.0, a.mean(), 1e-12);
        assertEquals(Math.sqrt(32.0 / 7), a.stddev(), 1e-12);
        RateStat b = new RateStat();
        b.add(10);
        b.add(20);
        RateStat group = new RateStat();
        group.addJob(a);
        group.addJob(b);
        assertEquals(2 + 10, group.min());
        assertEquals(9 + 20, group.max());
        assertEquals(5.0 + 15.0, group.mean(), 1e-12);
        assertEquals(10, group.samples());
    }

    @Test
    void statusLineHasFiosShape() {
        JobSpec s = JobSpec.defaults().toBuilder().rw(Rw.RANDRW).numjobs(2).times(10_000, 0).build();
        StatusLine l = new StatusLine(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        l.start(s, List.of(new AtomicLongArray(4)), 0);
        double[] rate = {45_600, 45_700, 178.0 * 1024 * 1024, 1.5 * 1024 * 1024};
        assertEquals("Jobs: 2 (f=2): [m(2)][45.0%][r=178MiB/s,w=1.5MiB/s][r=45.6k,w=45.7k IOPS][eta 00m:06s]",
                l.line(4_500_000_000L, 0, 10_000_000_000L, rate));
        assertEquals("1h:01m:01s", StatusLine.eta(3661));
    }
}
