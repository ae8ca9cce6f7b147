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
        Table t = new Table(new F1IopsVsVcpus().columns().toArray(String[]::new));
        for (int rep = 0; rep < 3; rep++) {
            for (String b : List.of("null", "latency")) {
                for (int n : new int[] {1, 2, 4}) {
                    for (Config c : Config.values()) {
                        boolean sq = c == Config.SQ_GLOBAL || c == Config.SQ_IOTHREAD;
                        int iothreads = sq || c == Config.MQ_ONE_IOTHREAD ? 1
                                : c == Config.MQ ? Math.min(n, cpus) : n;
                        double iops = n == 1 ? 100 : sq ? sqIops : mqIops;
                        double k = rep == 0 ? 10 : 1;
                        t.add(b, c.label, c.mode.label, n, sq ? 1 : n, iothreads, n + iothreads, 32, iops * k, 10.0, 0.5,
                                2.0, 1.0, sq ? sqBusy : 60.0, 50.0, 100.0, 20.0, 200_000L, 4_000L, n + iothreads > cpus, rep);
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
