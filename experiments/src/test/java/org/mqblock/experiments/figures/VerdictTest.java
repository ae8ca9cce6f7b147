package org.mqblock.experiments.figures;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mqblock.experiments.ListCommandAccess;
import org.mqblock.experiments.MachineInfo;

class VerdictTest {

    static Sweep on(int cpus) {
        MachineInfo m = new MachineInfo("test CPU", cpus, "jdk", "os", "abc", List.of(), 1, 1, "0 0 0");
        return new Sweep(true, Path.of("."), new PrintStream(OutputStream.nullOutputStream()), () -> { }, m);
    }

    @Test
    void aConjunctionFailsOnAnyFailedPartAndIsUntestableOnlyIfNothingFailed() {
        Verdict ok = Verdict.atLeast("a", 2, 1.2);
        Verdict bad = Verdict.atLeast("b", 1.1, 1.2);
        Verdict unknown = Verdict.atLeast("c", Double.NaN, 1.2);
        assertEquals(Verdict.Kind.SUPPORTED, ok.kind());
        assertEquals("b = 1.10 (needs >= 1.20)", bad.reason());
        assertEquals(Verdict.Kind.NOT_TESTABLE_HERE, unknown.kind());
        assertEquals(Verdict.Kind.NOT_SUPPORTED, Verdict.all(List.of(ok, unknown, bad)).kind());
        assertEquals("b = 1.10 (needs >= 1.20)", Verdict.all(List.of(ok, unknown, bad)).reason());
        assertEquals(Verdict.Kind.NOT_TESTABLE_HERE, Verdict.all(List.of(ok, unknown)).kind());
        assertEquals(Verdict.Kind.SUPPORTED, Verdict.all(List.of(ok, Verdict.atMost("d", 1, 1))).kind());
    }

    @Test
    void f9NeedsItsBaselineAndEveryDeepPoint() {
        F9NbdVsQemuNbd f = new F9NbdVsQemuNbd();
        Table t = new Table(F9NbdVsQemuNbd.COLUMNS);
        f9(t, "mqb", "randread", 32, 1, 1300.0, 1.3);
        assertEquals(Verdict.Kind.NOT_TESTABLE_HERE, f.judge(t, on(2)).kind(), "no qemu-nbd rows");
        f9(t, "qemu-nbd", "randread", 32, 1, 1000.0, 1.0);
        assertEquals(Verdict.Kind.SUPPORTED, f.judge(t, on(2)).kind());
        f9(t, "mqb", "randwrite", 128, 2, 1100.0, 1.1);
        f9(t, "mqb", "randwrite", 1, 1, 100.0, 0.5); // iodepth 1 is outside the claim
        Verdict v = f.judge(t, on(2));
        assertEquals(Verdict.Kind.NOT_SUPPORTED, v.kind());
        assertEquals("mqb/qemu-nbd randwrite iodepth 128 x2 = 1.10 (needs >= 1.20)", v.reason());
    }

    private static void f9(Table t, String server, String rw, int iodepth, int jobs, double iops, double ratio) {
        t.row().set(F9NbdVsQemuNbd.SERVER, server).set(F9NbdVsQemuNbd.RW, rw).set(F9NbdVsQemuNbd.IODEPTH, iodepth)
                .set(F9NbdVsQemuNbd.NUMJOBS, jobs).set(F9NbdVsQemuNbd.IOPS, iops).set(F9NbdVsQemuNbd.P99, 50.0)
                .set(F9NbdVsQemuNbd.RATIO, ratio).set(F9NbdVsQemuNbd.IOPS_MIN, iops).set(F9NbdVsQemuNbd.IOPS_MAX, iops).add();
    }

    @Test
    void reproduceWritesTheVerdictWhereTheCaptionThePaperAndListReadIt(@TempDir Path root) throws Exception {
        Figure fake = new FakeFigure();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        new Reproducer(root, MachineInfo.current(), new PrintStream(out, true)).reproduce(fake, true);
        assertTrue(out.toString().contains("verdict: NOT SUPPORTED: x = 1.50 (needs >= 2.00)"), out.toString());
        assertEquals("% Written by mqb reproduce; do not edit.\n\\textbf{NOT SUPPORTED} (quick run)\n",
                Files.readString(root.resolve("paper/figures/FX-verdict.tex")));
        assertTrue(Files.readString(root.resolve("paper/figures/FX-findings.tex"))
                .contains("\\item \\textbf{NOT SUPPORTED:} x = 1.50 (needs >= 2.00)"));
        assertEquals("% Written by mqb reproduce; do not edit.\nx is at least 2.\n",
                Files.readString(root.resolve("paper/figures/FX-claim.tex")));
        assertTrue(Files.readString(root.resolve("paper/figures/verdicts.tex")).contains("\\item F1: \\emph{not reproduced}"));
        String listed = ListCommandAccess.lastVerdict(root.resolve("paper/data/FX.json"));
        assertTrue(listed.startsWith("last verdict: NOT SUPPORTED - x = 1.50 (needs >= 2.00) (quick run, "), listed);
    }

    /** The abstract's sentence counts each kind of verdict with its figures, and names what was not reproduced. */
    @Test
    void theSummaryCountsEachVerdictWithItsFigures(@TempDir Path root) throws Exception {
        Files.createDirectories(root.resolve("paper/data"));
        String[][] recorded = {{"F1", "NOT TESTABLE HERE"}, {"F2", "NOT SUPPORTED"}, {"F6", "SUPPORTED"}, {"F7", "NOT SUPPORTED"}};
        for (String[] r : recorded) {
            Files.writeString(RecordedVerdict.file(root, r[0]),
                    "{\"figure\": \"" + r[0] + "\", \"verdict\": {\"kind\": \"" + r[1] + "\", \"reason\": \"x\"}}");
        }
        String tex = Reproducer.verdictSummaryTex(root);
        int others = Figures.ALL.size() - 4;
        assertTrue(tex.contains("of " + Figures.ALL.size() + " claims 1 was \\textbf{SUPPORTED} (F6); "
                + "2 were \\textbf{NOT SUPPORTED} (F2, F7); 1 was \\textbf{NOT TESTABLE HERE} (F1); "
                + others + " not reproduced (F3, F4, F5, F8, F9, F10)"), tex);
    }
}
