package org.mqblock.memory.workload;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * F5(a)'s workload on both bitmaps: whatever the writers marked, the consumer's takes saw. The
 * writers interleave (two neighbours in one word at once) over a bitmap larger than they can fill,
 * so a mark lost to a race or to a missing take is never marked again and shows.
 */
class MarkingWorkloadTest {

    static final long PAGES = 1 << 25;

    @ParameterizedTest
    @ValueSource(strings = {"atomic", "synchronized"})
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void dirtyBitNeverLostBetweenWritersAndTakes(String impl) throws Exception {
        long marks = 0;
        for (int round = 0; round < 5; round++) {
            MarkingWorkload.Result r = MarkingWorkload.run(DirtyPages.create(impl, PAGES), MarkingWorkload.Pages.INTERLEAVED,
                    PAGES, 2, 20, 2_000_000);
            marks += r.totalMarks();
            assertTrue(r.totalMarks() < PAGES, "no page marked twice: " + r.totalMarks() + " marks");
            assertArrayEquals(MarkingWorkload.marked(MarkingWorkload.Pages.INTERLEAVED, r.marks(), PAGES), r.seen(),
                    impl + ": a mark lost or invented");
        }
        assertTrue(marks > 0, "the writers ran");
    }
}
