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
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void everyPartIsMeasuredAndEveryMigrationVerifies(@TempDir Path dir) throws Exception {
        F5DirtyTracking f = new F5DirtyTracking();
        AtomicInteger steps = new AtomicInteger();
        Figure.Outcome o = f.run(FigureTestSupport.quickSweep(dir, steps));
        Table t = o.table();
        assertEquals(f.columns(), t.columns());
        assertEquals(f.steps(true), steps.get());

        List<Object[]> a = t.where("part", "a");
        assertEquals(F5DirtyTracking.BITMAPS.length * F5DirtyTracking.writers(true).length, a.size());
        assertTrue(a.stream().allMatch(r -> Table.number(r, t.index("value")) > 0));

        List<Object[]> migrating = t.where("series", "migrating");
        assertEquals(F5DirtyTracking.vcpus(true).length, migrating.size());
        for (Object[] r : migrating) {
            long n = ((Number) r[t.index("migrations")]).longValue();
            assertTrue(n > 0, "a migration ran beside the guest");
            assertEquals(n, ((Number) r[t.index("verified")]).longValue(), "every migration verified");
        }
        assertEquals(F5DirtyTracking.vcpus(true).length, t.where("series", "no migration").size());

        List<Object[]> c = t.where("part", "c");
        long stops = c.stream().filter(r -> r[t.index("phase")].equals("stop-and-copy")).count();
        assertEquals(F5DirtyTracking.DIRTY_RATES.length + 1, stops, "one migration per rate plus the guest's");
        assertTrue(c.stream().allMatch(r -> ((Number) r[t.index("verified")]).intValue() == 1));
        assertEquals(4, o.panels().size());
        assertFalse(o.findings().isEmpty());
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
