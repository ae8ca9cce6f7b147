package org.mqblock.experiments.figures;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.mqblock.experiments.figures.F10VhostUserVsQsd.Run;

/**
 * F10's claim evaluated over synthetic measurements: medians over repetitions, the baseline the
 * best qemu-storage-daemon run per metric, and each way the verdict can go.
 */
class F10VerdictTest {

    /** Three reps of one point; iops and CPU/IO as given for rep 2, with spread around them. */
    private static void point(List<Run> runs, String backend, String server, String rw, double iops, double cpu,
                              double busiest) {
        for (int rep = 1; rep <= 3; rep++) {
            double k = rep == 1 ? 0.9 : rep == 2 ? 1.0 : 1.3; // the median is rep 2's
            runs.add(new Run(backend, server, rw, 32, 2, rep, iops * k, 30, 90, cpu * (2 - k), 100, "t", busiest, 80, 1.0));
        }
    }

    private static List<Run> matrix(double oursIops, double oursCpu, double qsdBusiest) {
        List<Run> runs = new ArrayList<>();
        for (String rw : List.of("randread", "randwrite")) {
            point(runs, "null", "qsd-null", rw, 500_000, 1.0, qsdBusiest);
            point(runs, "null", "mqb-null", rw, oursIops, oursCpu, 95);
            point(runs, "file", "qsd-io_uring", rw, 200_000, 5.0, qsdBusiest);
            point(runs, "file", "qsd-threads", rw, 150_000, 4.0, qsdBusiest); // lower IOPS but the lower CPU/IO
            point(runs, "file", "mqb-file", rw, oursIops * 0.4, oursCpu * 4, 95);
        }
        return runs;
    }

    private static Verdict verdict(Figure.Outcome o) {
        return new F10VhostUserVsQsd().judge(o.table(), null);
    }

    @Test
    void ratiosAreTakenAgainstTheBestQsdRunOnEachMetric() {
        Figure.Outcome o = F10VhostUserVsQsd.evaluate(matrix(700_000, 0.7, 97), null, null);
        Table t = o.table();
        Table.Row file = t.where(F10VhostUserVsQsd.SERVER.is("mqb-file"), F10VhostUserVsQsd.RW.is("randread")).get(0);
        assertEquals(280_000.0 / 200_000, file.num("iops_vs_qsd"), 1e-9, "vs io_uring's IOPS");
        assertEquals(2.8 / 4.0, file.num("cpu_vs_qsd"), 1e-9, "vs threads' CPU/IO");
        assertEquals(3, file.num("reps"));
        assertEquals(280_000.0 * 0.9, file.num("iops_min"), 1e-6);
        assertEquals(280_000.0 * 1.3, file.num("iops_max"), 1e-6);
        assertEquals(280_000.0, file.num("iops"), 1e-6, "the median, not the mean");
    }

    @Test
    void supportedWhenEveryPointMeetsBothGoalsOverASaturatedBaseline() {
        Figure.Outcome o = F10VhostUserVsQsd.evaluate(matrix(700_000, 0.7, 97), null, null);
        assertEquals(Verdict.Kind.SUPPORTED, verdict(o).kind(), verdict(o).toString());
    }

    @Test
    void notSupportedWhenOnePointFallsShortOfTheIopsGoal() {
        // 1.1x on the null backend (550k vs 500k) and 0.44x CPU: the IOPS half fails.
        Figure.Outcome o = F10VhostUserVsQsd.evaluate(matrix(550_000, 0.7, 97), null, null);
        assertEquals(Verdict.Kind.NOT_SUPPORTED, verdict(o).kind(), verdict(o).toString());
        assertTrue(verdict(o).reason().contains("mqb-null randread qd32: 1.10x IOPS"), verdict(o).reason());
    }

    @Test
    void notSupportedWhenCpuPerIoIsAboveTheGoal() {
        Figure.Outcome o = F10VhostUserVsQsd.evaluate(matrix(700_000, 0.9, 97), null, null);
        assertEquals(Verdict.Kind.NOT_SUPPORTED, verdict(o).kind(), verdict(o).toString());
    }

    @Test
    void notTestableWhenTheBaselineIsNotSaturated() {
        Figure.Outcome o = F10VhostUserVsQsd.evaluate(matrix(700_000, 0.7, 60), null, null);
        assertEquals(Verdict.Kind.NOT_TESTABLE_HERE, verdict(o).kind(), verdict(o).toString());
        assertTrue(verdict(o).reason().contains("not saturated"), verdict(o).reason());
    }

    @Test
    void notTestableWhileOurExportIsPending() {
        List<Run> qsdOnly = matrix(700_000, 0.7, 97).stream().filter(r -> r.server().startsWith("qsd")).toList();
        Figure.Outcome o = F10VhostUserVsQsd.evaluate(qsdOnly, "our export is pending", null);
        assertEquals(Verdict.Kind.NOT_TESTABLE_HERE, verdict(o).kind());
        assertEquals("no measurement of our export at iodepth >= 32 with 2 queues", verdict(o).reason());
        assertEquals(6, o.table().rows().size(), "qsd's points are still tabulated");
    }
}
