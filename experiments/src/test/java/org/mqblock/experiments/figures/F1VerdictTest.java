package org.mqblock.experiments.figures;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.mqblock.experiments.MachineInfo;
import org.mqblock.experiments.figures.F1IopsVsVcpus.Config;

/**
 * F1's claim over synthetic tables: judged at the most vCPUs whose mq threads fit in the CPUs, a
 * speedup counted only over a saturated baseline, medians over repetitions.
 */
class F1VerdictTest {

    private static Sweep on(int cpus) {
        MachineInfo m = new MachineInfo("test CPU", cpus, "jdk", "os", "abc", List.of(), 1, 1, "0 0 0");
        return new Sweep(true, Path.of("."), new PrintStream(OutputStream.nullOutputStream()), () -> { }, m);
    }

    /**
     * Three repetitions of every point on {@code cpus} CPUs: IOPS 100 at 1 vCPU; at more, mq and
     * its ablations {@code mqIops}, the baselines {@code sqIops} with their device thread at
     * {@code sqBusy}% (the first repetition of each point an outlier at 10x).
     */
    private static Table table(int cpus, double mqIops, double sqIops, double sqBusy) {
        Table t = new Table(F1IopsVsVcpus.COLUMNS);
        for (int rep = 0; rep < 3; rep++) {
            for (String b : List.of("null", "latency")) {
                for (int n : new int[] {1, 2, 4}) {
                    for (Config c : Config.values()) {
                        boolean sq = c == Config.SQ_GLOBAL || c == Config.SQ_IOTHREAD;
                        int iothreads = sq || c == Config.MQ_ONE_IOTHREAD ? 1
                                : c == Config.MQ ? Math.min(n, cpus) : n;
                        double iops = n == 1 ? 100 : sq ? sqIops : mqIops;
                        double k = rep == 0 ? 10 : 1;
                        t.row().set(F1IopsVsVcpus.BACKEND, b).set(F1IopsVsVcpus.CONFIG, c.label)
                                .set(F1IopsVsVcpus.MODE, c.mode.label).set(F1IopsVsVcpus.VCPUS, n)
                                .set(F1IopsVsVcpus.QUEUES, sq ? 1 : n).set(F1IopsVsVcpus.IOTHREADS, iothreads)
                                .set(F1IopsVsVcpus.THREADS, n + iothreads).set(F1IopsVsVcpus.IODEPTH, 32)
                                .set(F1IopsVsVcpus.IOPS, iops * k).set(F1IopsVsVcpus.P99, 10.0)
                                .set(F1IopsVsVcpus.IRQS_PER_REQ, 0.5).set(F1IopsVsVcpus.CPU_PER_IO, 2.0)
                                .set(F1IopsVsVcpus.DEVICE_CPU_PER_IO, 1.0).set(F1IopsVsVcpus.BUSIEST, sq ? sqBusy : 60.0)
                                .set(F1IopsVsVcpus.VCPU_CPU, 50.0).set(F1IopsVsVcpus.USR, 100.0)
                                .set(F1IopsVsVcpus.SYS, 20.0).set(F1IopsVsVcpus.HALT_POLL_NS, 200_000L)
                                .set(F1IopsVsVcpus.GUEST_COST_NS, 4_000L)
                                .set(F1IopsVsVcpus.OVERSUBSCRIBED, n + iothreads > cpus).set(Grid.REP, rep).add();
                    }
                }
            }
        }
        return t;
    }

    private static Verdict judge(Table t, int cpus) {
        return new F1IopsVsVcpus().judge(t, on(cpus));
    }

    @Test
    void supportedAtTheMostVcpusWhoseThreadsFitOverSaturatedBaselines() {
        Verdict v = judge(table(8, 200, 100, 98), 8);
        assertEquals(Verdict.Kind.SUPPORTED, v.kind(), v.reason());
        assertTrue(v.reason().startsWith("null: mq/sq-global at 4 vCPUs = 2.00 (needs >= 1.20)"), v.reason());
    }

    @Test
    void aSpeedupOverABaselineThatIsNotSaturatedIsNotTestable() {
        Verdict v = judge(table(8, 200, 100, 52), 8);
        assertEquals(Verdict.Kind.NOT_TESTABLE_HERE, v.kind(), v.reason());
        assertTrue(v.reason().contains("null: mq/sq-iothread at 4 vCPUs: sq-iothread's busiest device thread ran at 52%"
                + " of a CPU (< 90%), not saturated"), v.reason());
    }

    @Test
    void notSupportedWhenMqDoesNotBeatASaturatedBaseline() {
        Verdict v = judge(table(8, 110, 100, 99), 8);
        assertEquals(Verdict.Kind.NOT_SUPPORTED, v.kind(), v.reason());
        assertTrue(v.reason().startsWith("null: mq/sq-global at 4 vCPUs = 1.10 (needs >= 1.20)"), v.reason());
    }

    @Test
    void onTwoCpusEveryMultiVcpuMqPointIsOversubscribedAndNothingIsJudged() {
        Verdict v = judge(table(2, 200, 100, 99), 2);
        assertEquals(Verdict.Kind.NOT_TESTABLE_HERE, v.kind(), v.reason());
        assertTrue(v.reason().contains("more than this machine's 2 CPUs"), v.reason());
        Verdict four = judge(table(4, 200, 100, 99), 4); // 2 vCPUs + 2 IOThreads fit, 4 + 4 do not
        assertEquals(Verdict.Kind.SUPPORTED, four.kind(), four.reason());
        assertTrue(four.reason().startsWith("null: mq/sq-global at 2 vCPUs"), four.reason());
    }
}
