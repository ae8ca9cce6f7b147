package org.mqblock.experiments.figures;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.mqblock.memory.LiveMigration;

/** F5's quick sweep: every part has rows, every migration verified, the step count matches. */
class F5DirtyTrackingTest {

    @Test
    @Timeout(value = 180, unit = TimeUnit.SECONDS)
    void everyPointIsRepeatedAndEveryMigrationVerifies(@TempDir Path dir) throws Exception {
        F5DirtyTracking f = new F5DirtyTracking();
        AtomicInteger steps = new AtomicInteger();
        Figure.Outcome o = f.run(FigureTestSupport.quickSweep(dir, steps));
        Table t = o.table();
        assertEquals(f.columns(), t.columns());
        assertEquals(f.steps(true), steps.get());
        int reps = Jobs.reps(true);
        assertTrue(reps >= 3);

        for (String impl : F5DirtyTracking.BITMAPS) {
            for (int n : F5DirtyTracking.writers(true)) {
                List<Table.Row> a = t.where(F5DirtyTracking.PART.is("a"), F5DirtyTracking.SERIES.is(impl),
                        F5DirtyTracking.X.is(n));
                assertEquals(reps, a.size(), impl + " at " + n + " writers, once per repetition");
                assertTrue(a.stream().allMatch(r -> r.num(F5DirtyTracking.VALUE) > 0));
            }
        }
        List<Table.Row> migrating = t.where(F5DirtyTracking.SERIES.is("migrating"));
        assertEquals(reps * F5DirtyTracking.vcpus(true).size(), migrating.size());
        for (Table.Row r : migrating) {
            long n = r.get(F5DirtyTracking.MIGRATIONS);
            assertTrue(n > 0, "a migration ran beside the guest");
            assertEquals(n, r.get(F5DirtyTracking.VERIFIED), "every migration verified");
        }
        assertEquals(reps * F5DirtyTracking.vcpus(true).size(), t.where(F5DirtyTracking.SERIES.is("no migration")).size());

        List<Table.Row> stops = t.where(F5DirtyTracking.PART.is("c"), F5DirtyTracking.PHASE.is("stop-and-copy"));
        assertEquals(reps * F5DirtyTracking.DIRTY_RATES.size() + 1, stops.size(), "one migration per rate and rep, plus the guest's");
        assertTrue(t.where(F5DirtyTracking.PART.is("c")).stream().allMatch(r -> r.get(F5DirtyTracking.VERIFIED) == 1));
        assertEquals(4, o.panels().size());
        assertFalse(o.findings().isEmpty());
    }

    /** Oversubscribed points are measured and drawn hollow, but never quoted as a result nor judged. */
    @Test
    void oversubscribedWritersAreNotTestableHere() {
        Table t = new Table(F5DirtyTracking.COLUMNS);
        for (int rep = 0; rep < 3; rep++) {
            for (int n : List.of(1, 2, 4)) {
                for (String impl : F5DirtyTracking.BITMAPS) {
                    double mps = impl.equals("atomic") ? 10.0 * n : 5.0; // would be SUPPORTED if judged
                    t.row().set(F5DirtyTracking.PART, "a").set(F5DirtyTracking.SERIES, impl).set(F5DirtyTracking.X, n)
                            .set(Grid.REP, rep).set(F5DirtyTracking.VALUE, mps).set(F5DirtyTracking.UNIT, "M pages/s")
                            .set(F5DirtyTracking.PHASE, "").set(F5DirtyTracking.PAGES_SENT, Double.NaN)
                            .set(F5DirtyTracking.PAGES_REMAINING, Double.NaN).set(F5DirtyTracking.MIGRATIONS, 0L)
                            .set(F5DirtyTracking.CONVERGED, 0L).set(F5DirtyTracking.VERIFIED, 0L)
                            .set(F5DirtyTracking.DOWNTIME_MS, Double.NaN)
                            .set(F5DirtyTracking.OVERSUBSCRIBED, F5DirtyTracking.oversubscribed(n, 2)).add();
                }
            }
        }
        t.row().set(F5DirtyTracking.PART, "b").set(F5DirtyTracking.SERIES, "migrating").set(F5DirtyTracking.X, 1)
                .set(Grid.REP, 0).set(F5DirtyTracking.VALUE, 1000.0).set(F5DirtyTracking.UNIT, "IOPS")
                .set(F5DirtyTracking.PHASE, "").set(F5DirtyTracking.PAGES_SENT, Double.NaN)
                .set(F5DirtyTracking.PAGES_REMAINING, Double.NaN).set(F5DirtyTracking.MIGRATIONS, 1L)
                .set(F5DirtyTracking.CONVERGED, 1L).set(F5DirtyTracking.VERIFIED, 1L)
                .set(F5DirtyTracking.DOWNTIME_MS, 1.0).set(F5DirtyTracking.OVERSUBSCRIBED, false).add();
        Verdict two = new F5DirtyTracking().judge(t, VerdictTest.on(2));
        assertEquals(Verdict.Kind.NOT_TESTABLE_HERE, two.kind(), two.reason());
        assertTrue(two.reason().startsWith("(a) needs 2 writers and the sync thread on 3 CPUs"), two.reason());
        Verdict eight = new F5DirtyTracking().judge(t, VerdictTest.on(8));
        assertEquals(Verdict.Kind.SUPPORTED, eight.kind(), eight.reason());
        assertTrue(eight.reason().contains("(a) atomic 4 writers/1 = 4.00"), eight.reason());
    }

    /** Deterministic, unlike the timing: an idle RAM converges after one pass and sends each page once. */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void idleRamConvergesAfterOnePass() throws Exception {
        LiveMigration.Result r = F5DirtyTracking.migrateAtRate(0);
        assertTrue(r.converged());
        assertTrue(r.verified(), r.mismatch());
        assertEquals(r.pagesTotal(), r.totalPagesSent());
    }
}
