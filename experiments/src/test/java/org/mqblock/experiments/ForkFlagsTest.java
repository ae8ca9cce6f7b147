package org.mqblock.experiments;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Which flags JMH's forks are given, so that on JDK 25 they print no JDK warning. */
class ForkFlagsTest {

    private static final String NATIVE = "--enable-native-access=ALL-UNNAMED";
    private static final String UNSAFE = "--sun-misc-unsafe-memory-access=allow";

    @Test
    void surefireJvmHasEveryFlagAlready() {
        // test.jvm.args in the root pom carries them; forks of a benchmark run in a test inherit them.
        assertEquals(List.of(), ForkFlags.missing());
    }

    @Test
    void onlyTheFlagsThisJvmLacksAreMissing() {
        assertEquals(List.of(NATIVE, UNSAFE), ForkFlags.missingFrom(List.of("-Xmx1g")));
        assertEquals(List.of(UNSAFE), ForkFlags.missingFrom(List.of("-ea", NATIVE)));
        assertEquals(List.of(), ForkFlags.missingFrom(List.of(UNSAFE, NATIVE)));
    }

    @Test
    void missingFlagsArePrependedForTheForks() {
        assertEquals(List.of("-jvmArgsPrepend", NATIVE + " " + UNSAFE, "RingThroughputBench", "-f", "1"),
                ForkFlags.withForkFlags(List.of("RingThroughputBench", "-f", "1"), List.of(NATIVE, UNSAFE)));
    }

    @Test
    void argumentsAreLeftAloneWhenNothingIsMissingOrTheCallerChoseForkFlags() {
        List<String> plain = List.of("-l");
        assertEquals(plain, ForkFlags.withForkFlags(plain, List.of()));
        List<String> own = List.of("-jvmArgsPrepend", "-Xint", "WakeupRoundTripBench");
        assertEquals(own, ForkFlags.withForkFlags(own, List.of(UNSAFE)));
        List<String> replaced = List.of("-jvmArgs", "-Xmx1g", "WakeupRoundTripBench");
        assertEquals(replaced, ForkFlags.withForkFlags(replaced, List.of(UNSAFE)));
    }
}
