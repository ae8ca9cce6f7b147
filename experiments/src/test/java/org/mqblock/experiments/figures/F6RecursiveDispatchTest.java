package org.mqblock.experiments.figures;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** F6's quick sweep: release-reacquire runs without deadlock, nested deadlocks and is recovered. */
class F6RecursiveDispatchTest {

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void releaseReacquireNeverDeadlocksWhileNestedDoesAndTheSweepRecovers(@TempDir Path dir) throws Exception {
        F6RecursiveDispatch f = new F6RecursiveDispatch();
        AtomicInteger steps = new AtomicInteger();
        Figure.Outcome o = f.run(FigureTestSupport.quickSweep(dir, steps));
        Table t = o.table();
        assertEquals(f.columns(), t.columns());
        assertEquals(f.steps(true), steps.get());

        List<Object[]> rr = t.where("policy", "release-reacquire");
        List<Object[]> nested = t.where("policy", "nested");
        assertEquals(F6RecursiveDispatch.reps(true), rr.size());
        assertEquals(F6RecursiveDispatch.reps(true), nested.size());
        for (Object[] r : rr) {
            assertEquals(false, r[t.index("deadlocked")]);
            assertTrue(((Number) r[t.index("completed_dmas")]).longValue() > 0, "release-reacquire made progress");
            assertEquals(0L, ((Number) r[t.index("reentrancy_refusals")]).longValue());
        }
        // Both devices wait at a barrier holding their contexts, then DMA into each other: the
        // first NESTED access of each waits for the other's context, every time.
        assertTrue(nested.stream().anyMatch(r -> (Boolean) r[t.index("deadlocked")]), "nested deadlocked");
        for (Object[] r : t.rows()) {
            assertEquals(0, ((Number) r[t.index("threads_left_stuck")]).intValue());
        }
        assertNull(ManagementFactory.getThreadMXBean().findDeadlockedThreads(), "no thread left deadlocked");
        assertEquals(2, o.panels().size());
        assertFalse(o.findings().isEmpty());
    }
}
