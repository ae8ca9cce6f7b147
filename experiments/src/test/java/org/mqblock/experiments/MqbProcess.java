package org.mqblock.experiments;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** {@code mqb} as a child JVM (its own signals, exit status and MQB_HOME), on this test's class path. */
final class MqbProcess {

    private MqbProcess() {}

    /** Starts {@code mqb args...} with MQB_HOME at {@code home}; stdout to {@code out}, stderr to {@code err}. */
    static Process start(Path home, Path out, Path err, String... args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Mqb.class.getName());
        cmd.addAll(List.of(args));
        ProcessBuilder b = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile());
        b.environment().put("MQB_HOME", home.toString());
        return b.start();
    }
}
