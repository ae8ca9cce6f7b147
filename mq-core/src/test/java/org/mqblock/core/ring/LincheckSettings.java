package org.mqblock.core.ring;

import org.jetbrains.lincheck.datastructures.ModelCheckingOptions;
import org.jetbrains.lincheck.datastructures.StressOptions;

/**
 * The Lincheck budgets shared by the ring tests: two threads (the producer and the consumer
 * groups) and short scenarios from the prepared states of {@link RingLincheckTest}, sized so that
 * each test takes seconds on 2 cores. Raise {@code -Dring.lincheck.scale} (default 1) for a longer
 * hunt. The tests' 600 s timeouts only catch hangs: a budget that takes 15 s on a quiet machine
 * took 150 s on a loaded one.
 */
final class LincheckSettings {
    private static final int SCALE = Integer.getInteger("ring.lincheck.scale", 1);

    private LincheckSettings() {}

    /** Model checking, with obstruction freedom: no operation may wait for the other thread. */
    static ModelCheckingOptions modelChecking() {
        return new ModelCheckingOptions()
                .iterations(10 * SCALE)
                .invocationsPerIteration(150)
                .threads(2)
                .actorsPerThread(3)
                .actorsBefore(2)
                .actorsAfter(1)
                .checkObstructionFreedom(true);
    }

    static StressOptions stress() {
        return new StressOptions()
                .iterations(10 * SCALE)
                .invocationsPerIteration(500)
                .threads(2)
                .actorsPerThread(4)
                .actorsBefore(2)
                .actorsAfter(1);
    }
}
