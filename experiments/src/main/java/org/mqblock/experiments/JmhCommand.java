package org.mqblock.experiments;

import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Unmatched;

/**
 * {@code mqb jmh ...}: runs the benchmarks module's JMH benchmarks (shaded into mqb.jar, as into
 * benchmarks/target/benchmarks.jar), passing every argument to JMH
 * (for example {@code mqb jmh BottomHalfBench -prof gc -rf json -rff out.json}), with
 * {@code -jvmArgsPrepend} first when this JVM lacks one of the {@link ForkFlags} its forks need.
 */
@Command(
        name = "jmh",
        description = "Run the JMH benchmarks (all arguments go to JMH; try '-l' to list them).")
final class JmhCommand implements Runnable {

    @Unmatched List<String> args = new ArrayList<>();

    @Override
    public void run() {
        System.out.println("# machine: " + MachineInfo.current().toJson());
        try {
            org.openjdk.jmh.Main.main(ForkFlags.withForkFlags(args, ForkFlags.missing()).toArray(String[]::new));
        } catch (Exception e) {
            throw new IllegalStateException("JMH failed: " + e.getMessage(), e);
        }
    }
}
