package org.mqblock.experiments;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;

/**
 * The JVM flags a JMH fork needs on JDK 25 so that it prints no JDK warning in the middle of the
 * benchmark output. JMH starts each fork with this JVM's own flags (unless told {@code -jvmArgs}),
 * so when {@code ./mqb} (scripts/jdk.sh) or surefire (test.jvm.args in the root pom) started this
 * JVM the forks have them already; {@link #missing()} names the ones a JVM started some other way
 * ({@code java -jar mqb.jar}, whose manifest enables native access for this JVM only, an IDE, a
 * library call of {@link RingBench#run}) lacks, for {@link JmhCommand} and {@link RingBench} to
 * prepend.
 *
 * <ul>
 *   <li>{@code --enable-native-access=ALL-UNNAMED}: Chronicle Affinity loads native code through
 *       JNA, which JDK 24+ warns about unless the caller's module is allowed (JEP 472).
 *   <li>{@code --sun-misc-unsafe-memory-access=allow}: JMH itself, Agrona and JCTools use
 *       sun.misc.Unsafe's memory access methods, which JDK 24+ warns about at first use (JEP 498).
 * </ul>
 */
final class ForkFlags {

    static final List<String> REQUIRED =
            List.of("--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow");

    private ForkFlags() {}

    /**
     * The flags of {@link #REQUIRED} this JVM was not started with, in that order.
     *
     * <p>Context: any thread.
     */
    static List<String> missing() {
        return missingFrom(ManagementFactory.getRuntimeMXBean().getInputArguments());
    }

    /** The flags of {@link #REQUIRED} that are not in {@code jvmArgs}. */
    static List<String> missingFrom(List<String> jvmArgs) {
        List<String> missing = new ArrayList<>(REQUIRED);
        missing.removeAll(jvmArgs);
        return missing;
    }

    /**
     * JMH command-line arguments with {@code -jvmArgsPrepend} giving the forks {@code missing},
     * unless nothing is missing or the caller chose a {@code -jvmArgsPrepend} (or a
     * {@code -jvmArgs}, which replaces the inherited flags on purpose) already.
     */
    static List<String> withForkFlags(List<String> jmhArgs, List<String> missing) {
        if (missing.isEmpty() || jmhArgs.contains("-jvmArgsPrepend") || jmhArgs.contains("-jvmArgs")) {
            return jmhArgs;
        }
        List<String> args = new ArrayList<>(List.of("-jvmArgsPrepend", String.join(" ", missing)));
        args.addAll(jmhArgs);
        return args;
    }
}
