package org.mqblock.experiments;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.mqblock.vhost.FrontendQueue;
import org.mqblock.vhost.VhostUserFrontend;
import org.mqblock.virtio.VirtioBlkSpec;

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
        MqbRun budget = MqbRun.of("serve", "--client-buffer-mib", "8", "--tcp", "127.0.0.1:0", "--pin", "off");
        assertNotEquals(0, budget.exitCode());
        assertTrue(budget.err().contains("connectionBufferBytes must be >= 33554432"), budget.err());
        MqbRun cap = MqbRun.of("serve", "--max-connections", "0", "--tcp", "127.0.0.1:0", "--pin", "off");
        assertNotEquals(0, cap.exitCode());
        assertTrue(cap.err().contains("maxConnections must be >= 1"), cap.err());
    }

    /**
     * {@code --export vhost-user-blk,...}: two virtqueues on io0 and io1 (round-robin), a front-end
     * writes over both and reads back over the other, and serve stops once it has gone.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void serveExportsVhostUserBlkToAFrontEnd(@TempDir Path dir) throws Exception {
        Path sock = dir.resolve("vhost.sock");
        CompletableFuture<MqbRun> serve = CompletableFuture.supplyAsync(() -> MqbRun.of("serve", "--pin", "off",
                "--backend", "driver=memory,size=16M", "--iothreads", "2", "--run-front-ends", "1",
                "--export", "vhost-user-blk,addr.path=" + sock + ",num-queues=2,writable=on,id=vub0"));
        while (!Files.exists(sock)) {
            if (serve.isDone()) {
                throw new AssertionError("serve ended early: " + serve.get().err() + serve.get().out());
            }
            Thread.sleep(10);
        }
        try (VhostUserFrontend f = VhostUserFrontend.connect(sock, VhostUserFrontend.Options.builder().build())) {
            assertEquals(2, f.queueCount());
            assertEquals(16L << 20, f.config().capacityBytes());
            for (int round = 0; round < 2; round++) {
                for (int qi = 0; qi < 2; qi++) {
                    FrontendQueue q = f.queue(qi);
                    int other = 1 - qi;
                    long offset = (round == 0 ? qi : other) * 4096L; // round 1 reads what the other queue wrote
                    int s = q.takeSlot();
                    int type = round == 0 ? VirtioBlkSpec.T_OUT : VirtioBlkSpec.T_IN;
                    if (round == 0) {
                        q.dma().write(q.dataAddress(s), block(qi), 0, 4096);
                    }
                    q.add(s, type, offset, 4096);
                    q.publish();
                    int[] status = {-1};
                    while (q.await((slot, st) -> status[0] = st) == 0) {
                        Thread.onSpinWait();
                    }
                    assertEquals(VirtioBlkSpec.S_OK, status[0]);
                    if (round == 1) {
                        byte[] got = new byte[4096];
                        q.dma().read(q.dataAddress(s), got, 0, 4096);
                        assertArrayEquals(block(other), got, "queue " + qi + " reads queue " + other + "'s block");
                    }
                }
            }
        }
        MqbRun r = serve.get(30, TimeUnit.SECONDS);
        assertEquals(0, r.exitCode(), r.err() + r.out());
        assertTrue(r.out().contains("vhost-user-blk export 'vub0', 16777216 bytes"), r.out());
        assertTrue(r.out().matches("(?s).*io0.*virtqueues \\[0\\].*io1.*virtqueues \\[1\\].*"), r.out());
        assertTrue(r.out().contains("listening: vhost-user " + sock), r.out());
        assertTrue(r.out().contains("1 front-end(s) served"), r.out());
        assertTrue(r.out().contains("mqb serve: stopped"), r.out());
        assertTrue(!Files.exists(sock), "the socket is removed");
    }

    private static byte[] block(int seed) {
        byte[] b = new byte[4096];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) (seed * 131 + i * 7 + (i >>> 9));
        }
        return b;
    }

    /** Bad vhost-user-blk options are named, and nothing starts (no socket appears). */
    @Test
    void badVhostUserBlkOptionsAreNamedBeforeAnythingStarts(@TempDir Path dir) {
        String sock = dir.resolve("v.sock").toString();
        String[][] bad = {
            {"vhost-user-blk,num-queues=2", "addr.path"},
            {"vhost-user-blk,addr.path=" + sock + ",num-queues=2,iothread-vq-mapping.0.iothread=io5,"
                    + "iothread-vq-mapping.0.vqs.0=0,iothread-vq-mapping.0.vqs.1=1", "'io5'"},
            {"vhost-user-blk,addr.path=" + sock + ",num-queues=2,iothread-vq-mapping.0.iothread=io0,"
                    + "iothread-vq-mapping.0.vqs.0=0", "virtqueue 1 not given"},
            {"vhost-user-blk,addr.path=" + sock + ",iothread-vq-mapping.1.iothread=io0", "without gaps"},
            {"vhost-user-blk,addr.path=" + sock + ",node-name=disk0", "node-name"},
            {"vhost-user-blk,addr.path=" + sock + ",logical-block-size=1000", "logical-block-size"},
            {"vhost-user-blk,addr.path=" + sock + ",addr.type=inet", "addr.type"},
        };
        for (String[] b : bad) {
            MqbRun r = MqbRun.of("serve", "--pin", "off", "--iothreads", "2", "--export", b[0]);
            assertNotEquals(0, r.exitCode(), b[0]);
            assertTrue((r.err() + r.out()).contains(b[1]), b[0] + " should name " + b[1] + ": " + r.err());
            assertTrue(!Files.exists(Path.of(sock)), b[0] + ": no socket");
        }
        MqbRun ro = MqbRun.of("serve", "--pin", "off", "--read-only", "--export", "vhost-user-blk,addr.path=" + sock);
        assertNotEquals(0, ro.exitCode());
        assertTrue(ro.err().contains("writable=on"), ro.err());
        MqbRun queues = MqbRun.of("serve", "--pin", "off", "--backend", "driver=memory,size=1M,queues=4",
                "--export", "vhost-user-blk,addr.path=" + sock);
        assertNotEquals(0, queues.exitCode());
        assertTrue(queues.err().contains("num-queues"), queues.err());
        String help = Mqb.commandLine().getSubcommands().get("serve").getUsageMessage();
        assertTrue(help.contains("vhost-user-blk,addr.path=SOCK") && help.contains("iothread-vq-mapping.0.iothread=io0"), help);
    }
}
