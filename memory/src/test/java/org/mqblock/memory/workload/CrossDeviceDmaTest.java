package org.mqblock.memory.workload;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.mqblock.memory.DispatchPolicy;

/** F6's two-device rig: release-reacquire keeps DMAing, nested deadlocks and the rig recovers. */
class CrossDeviceDmaTest {

    private static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void releaseReacquireNeverDeadlocksAndEveryDmaLandsInThePeer() throws Exception {
        CrossDeviceDma.Run r = CrossDeviceDma.run(DispatchPolicy.RELEASE_REACQUIRE, 300, QUIET);
        assertFalse(r.deadlocked());
        assertTrue(r.completed() > 0, "DMAs completed");
        assertEquals(0, r.refusals(), "a DMA into the peer is not re-entrant");
        assertEquals(0, r.stuck());
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void nestedDeadlocksIsDetectedAndBrokenWithNoThreadLeftStuck() throws Exception {
        CrossDeviceDma.Run r = CrossDeviceDma.run(DispatchPolicy.NESTED, 2_000, QUIET);
        assertTrue(r.deadlocked(), "both devices hold their context and wait for the other's");
        assertEquals(0, r.stuck());
        assertNull(ManagementFactory.getThreadMXBean().findDeadlockedThreads(), "no thread left deadlocked");
    }
}
