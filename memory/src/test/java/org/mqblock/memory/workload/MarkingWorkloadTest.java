package org.mqblock.memory.workload;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * F5(a)'s workload on both bitmaps: whatever the writers marked, the consumer's takes saw, while
 * they ran every 100 us over a bitmap small enough that the writers collide on every word.
 */
class MarkingWorkloadTest {

    static final long PAGES = 1 << 12;

    @ParameterizedTest
    @ValueSource(strings = {"atomic", "synchronized"})
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void dirtyBitNeverLostBetweenWritersAndTakes(String impl) throws Exception {
        for (int round = 0; round < 5; round++) {
            MarkingWorkload.Result r = MarkingWorkload.run(DirtyPages.create(impl, PAGES), PAGES, 2, 50, 100_000);
            assertTrue(r.marks()[0] > 0 && r.marks()[1] > 0, "both writers ran");
            assertArrayEquals(MarkingWorkload.marked(r.marks(), PAGES), r.seen(), impl + ": a mark lost or invented");
        }
    }
}
