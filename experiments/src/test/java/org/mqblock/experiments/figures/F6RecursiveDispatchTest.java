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

        List<Table.Row> rr = t.where(F6RecursiveDispatch.POLICY.is("release-reacquire"));
        List<Table.Row> nested = t.where(F6RecursiveDispatch.POLICY.is("nested"));
        assertEquals(F6RecursiveDispatch.reps(true), rr.size());
        assertEquals(F6RecursiveDispatch.reps(true), nested.size());
        for (Table.Row r : rr) {
            assertFalse(r.get(F6RecursiveDispatch.DEADLOCKED));
            assertTrue(r.get(F6RecursiveDispatch.COMPLETED) > 0, "release-reacquire made progress");
            assertEquals(0L, r.get(F6RecursiveDispatch.REFUSALS));
        }
        // Both devices wait at a barrier holding their contexts, then DMA into each other: the
        // first NESTED access of each waits for the other's context, every time.
        assertTrue(nested.stream().anyMatch(r -> r.get(F6RecursiveDispatch.DEADLOCKED)), "nested deadlocked");
        for (Table.Row r : t.rows()) {
            assertEquals(0, r.get(F6RecursiveDispatch.STUCK));
        }
        assertNull(ManagementFactory.getThreadMXBean().findDeadlockedThreads(), "no thread left deadlocked");
        assertEquals(2, o.panels().size());
        assertFalse(o.findings().isEmpty());
    }
}
