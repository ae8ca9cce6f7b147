package org.mqblock.experiments;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Commands run in this JVM and may start IOThreads and servers: each test has a @Timeout. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ServeCommandTest {

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void serveListensThenStopsCleanlyDrainingAndFlushing(@TempDir Path dir) {
        Path sock = dir.resolve("nbd.sock");
        MqbRun r = MqbRun.of("serve", "--tcp", "127.0.0.1:0", "--unix", sock.toString(), "--pin", "off",
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
        MqbRun pin = MqbRun.of("serve", "--pin", "maybe", "--tcp", "127.0.0.1:0");
        assertNotEquals(0, pin.exitCode());
        assertTrue(pin.err().contains("--pin"), pin.err());
        MqbRun tcp = MqbRun.of("serve", "--tcp", "localhost", "--pin", "off");
        assertNotEquals(0, tcp.exitCode());
        assertTrue(tcp.err().contains("--tcp"), tcp.err());
        MqbRun backend = MqbRun.of("serve", "--backend", "driver=memory,sise=1G", "--tcp", "127.0.0.1:0", "--pin", "off");
        assertNotEquals(0, backend.exitCode());
        assertTrue((backend.err() + backend.out()).contains("sise"), backend.err());
    }
}
