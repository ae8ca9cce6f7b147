package org.mqblock.memory;

import java.util.concurrent.TimeUnit;
import org.jetbrains.lincheck.datastructures.IntGen;
import org.jetbrains.lincheck.datastructures.ModelCheckingOptions;
import org.jetbrains.lincheck.datastructures.Operation;
import org.jetbrains.lincheck.datastructures.Param;
import org.jetbrains.lincheck.datastructures.StressOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Linearizability of the single-word operations of {@link DirtyBitmap} over two words (128
 * pages), checked against the bitmap itself run sequentially: a bit set by a completed {@code
 * setDirty} is reported by exactly one later take, never lost, never reported twice.
 *
 * <p>Operations that span words ({@code count()}, a range crossing a word boundary) are atomic
 * per word only, by design, and are not linearizable as a whole (a take can see a later bit of a
 * writer's range but miss an earlier one); the sequential model test and the no-lost-bit stress in
 * {@link DirtyBitmapTest} cover them.
 */
@Param(name = "page", gen = IntGen.class, conf = "0:5")
@Param(name = "range", gen = IntGen.class, conf = "0:3")
@Param(name = "word", gen = IntGen.class, conf = "0:1")
public class DirtyBitmapLincheckTest {

    /** Pages at both ends of both words, where masks and word indices are easiest to get wrong. */
    private static final long[] PAGES = {0, 1, 63, 64, 65, 127};
    /** (start, count) ranges inside one word: partial at either end, and whole words. */
    private static final long[][] RANGES = {{0, 2}, {62, 2}, {64, 64}, {0, 64}};

    private final DirtyBitmap bm = new DirtyBitmap(128);
    private final long[] snap = new long[1];

    @Operation
    public void setDirty(@Param(name = "page") int p) {
        bm.setDirty(PAGES[p]);
    }

    @Operation
    public void setDirtyRange(@Param(name = "range") int r) {
        bm.setDirtyRange(RANGES[r][0], RANGES[r][1]);
    }

    @Operation
    public boolean getDirty(@Param(name = "page") int p) {
        return bm.getDirty(PAGES[p]);
    }

    @Operation
    public boolean testAndClear(@Param(name = "page") int p) {
        return bm.testAndClear(PAGES[p]);
    }

    /** Takes one whole word: a single getAndSet, so it is linearizable. */
    @Operation(nonParallelGroup = "snapshot") // the snapshot array is the taker's own buffer
    public long testAndClearWord(@Param(name = "word") int w) {
        bm.testAndClearRange(64L * w, 64, snap);
        return snap[0];
    }

    @Test
    @Timeout(value = 600, unit = TimeUnit.SECONDS)
    void noBitLostOrDuplicatedUnderModelChecking() {
        new ModelCheckingOptions()
                .threads(3)
                .actorsPerThread(3)
                .iterations(10 * Stress.scale())
                .invocationsPerIteration(100)
                .check(this.getClass());
    }

    @Test
    @Timeout(value = 600, unit = TimeUnit.SECONDS)
    void noBitLostOrDuplicatedUnderStress() {
        new StressOptions()
                .threads(2) // two cores: a third spinning thread only slows every invocation down
                .actorsPerThread(4)
                .iterations(10 * Stress.scale())
                .invocationsPerIteration(1_000)
                .check(this.getClass());
    }
}
