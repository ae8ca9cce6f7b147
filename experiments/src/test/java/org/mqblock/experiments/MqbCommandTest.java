package org.mqblock.experiments;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

class MqbCommandTest {

    private record Run(int exitCode, String out, String err) {}

    private static Run run(String... args) {
        CommandLine cmd = Mqb.commandLine();
        StringWriter err = new StringWriter();
        cmd.setErr(new PrintWriter(err));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream saved = System.out;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            int code = cmd.execute(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString());
        } finally {
            System.setOut(saved);
        }
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void demoPrintsMeasuredFiguresForBothFigures() {
        Run r = run("demo", "--seconds", "0.05");
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("machine: "), r.out());
        assertTrue(r.out().matches("(?s).*one-shot .*: +\\d+\\.\\d+ M schedule-to-run/s.*"), r.out());
        assertTrue(r.out().matches("(?s).*0 \\(blocking\\) +\\d+\\.\\d+ +\\d+\\.\\d+.*"), r.out());
        assertTrue(r.out().matches("(?s).*32768 \\(adaptive\\) +\\d+\\.\\d+.*"), r.out());
        assertTrue(r.out().contains("blocking / adaptive p50"), r.out());
    }

    @Test
    void badOptionValueNamesTheOption() {
        Run r = run("demo", "--seconds", "-1");
        assertNotEquals(0, r.exitCode());
        assertTrue(r.err().contains("--seconds"), r.err());
    }

    @Test
    void unknownOptionIsNamed() {
        Run r = run("demo", "--sekonds", "1");
        assertNotEquals(0, r.exitCode());
        assertTrue(r.err().contains("--sekonds"), r.err());
    }

    @Test
    void machineDescriptionIsJson() {
        Run r = run("machine");
        assertEquals(0, r.exitCode());
        assertTrue(r.out().trim().startsWith("{\"cpu_model\": "), r.out());
        assertTrue(r.out().contains("\"nproc\": " + Runtime.getRuntime().availableProcessors()), r.out());
    }
}
