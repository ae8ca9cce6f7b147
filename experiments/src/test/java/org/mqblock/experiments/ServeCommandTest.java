package org.mqblock.experiments;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class ServeCommandTest {

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
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void serveListensThenStopsCleanlyDrainingAndFlushing(@TempDir Path dir) {
        Path sock = dir.resolve("nbd.sock");
        Run r = run("serve", "--tcp", "127.0.0.1:0", "--unix", sock.toString(), "--pin", "off",
                "--backend", "driver=memory,size=16M", "--iothreads", "2", "--run-seconds", "0.5");
        assertEquals(0, r.exitCode(), r.err() + r.out());
        assertTrue(r.out().contains("export 'disk', 16777216 bytes"), r.out());
        assertTrue(r.out().contains("queues=16"), "8 queues per IOThread: " + r.out());
        assertTrue(r.out().matches("(?s).*listening: nbd://127\\.0\\.0\\.1:\\d+/disk.*"), r.out());
        assertTrue(r.out().contains("listening: nbd+unix:///disk?socket=" + sock), r.out());
        assertTrue(r.out().contains("mqb serve: ready"), r.out());
        assertTrue(r.out().contains("mqb serve: stopped"), r.out());
    }

    @Test
    void badOptionsAreNamed() {
        Run pin = run("serve", "--pin", "maybe", "--tcp", "127.0.0.1:0");
        assertNotEquals(0, pin.exitCode());
        assertTrue(pin.err().contains("--pin"), pin.err());
        Run tcp = run("serve", "--tcp", "localhost", "--pin", "off");
        assertNotEquals(0, tcp.exitCode());
        assertTrue(tcp.err().contains("--tcp"), tcp.err());
        Run backend = run("serve", "--backend", "driver=memory,sise=1G", "--tcp", "127.0.0.1:0", "--pin", "off");
        assertNotEquals(0, backend.exitCode());
        assertTrue((backend.err() + backend.out()).contains("sise"), backend.err());
    }
}
