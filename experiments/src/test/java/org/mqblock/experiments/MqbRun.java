package org.mqblock.experiments;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import picocli.CommandLine;

/** One {@code mqb} invocation in this JVM, the way {@link Mqb#main} runs it, with what it printed. */
record MqbRun(int exitCode, String out, String err) {

    static MqbRun of(String... args) {
        CommandLine cmd = Mqb.commandLine();
        StringWriter err = new StringWriter();
        cmd.setErr(new PrintWriter(err));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream saved = System.out;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            int code = cmd.execute(args);
            return new MqbRun(code, out.toString(StandardCharsets.UTF_8), err.toString());
        } finally {
            System.setOut(saved);
        }
    }
}
