package org.mqblock.memory;

/**
 * Scale of the stress tests: {@code -Dmqblock.stress=N} multiplies iterations and seeds by N for
 * longer local runs (default 1 keeps the module's suite within CI's budget on two cores).
 */
final class Stress {

    private Stress() {}

    static int scale() {
        return Math.max(1, Integer.getInteger("mqblock.stress", 1));
    }
}
