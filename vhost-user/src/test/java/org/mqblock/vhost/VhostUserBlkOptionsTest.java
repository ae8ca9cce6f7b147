package org.mqblock.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.mqblock.block.driver.MemoryDriver;
import org.mqblock.core.loop.IOThread;
import org.mqblock.core.loop.PollWindow;
import org.mqblock.nativeio.EpollMonitor;
import org.mqblock.virtio.VqMapping;

/** The export's option string, and what start refuses before it starts anything. */
class VhostUserBlkOptionsTest {

    @Test
    void qemuStorageDaemonsDefaultsAndKeys() {
        VhostUserBlkOptions d = VhostUserBlkOptions.parse("vhost-user-blk,addr.path=/tmp/a,,b.sock");
        assertEquals(Path.of("/tmp/a,b.sock"), d.socketPath(), "a comma written twice");
        assertEquals(1, d.numQueues());
        assertFalse(d.writable());
        assertEquals(512, d.logicalBlockSize());
        assertTrue(d.vqMapping().isEmpty(), "round-robin");
        VhostUserBlkOptions o = VhostUserBlkOptions.parse("vhost-user-blk,id=e0,addr.type=unix,addr.path=/s,num-queues=4,"
                + "writable=on,logical-block-size=4k,iothread-vq-mapping.0.iothread=io0,iothread-vq-mapping.0.vqs.0=0,"
                + "iothread-vq-mapping.0.vqs.1=2,iothread-vq-mapping.1.iothread=io1,iothread-vq-mapping.1.vqs.0=1,"
                + "iothread-vq-mapping.1.vqs.1=3");
        assertEquals("e0", o.id());
        assertEquals(4096, o.logicalBlockSize());
        assertEquals(Map.of("io0", List.of(0, 2), "io1", List.of(1, 3)), o.vqMapping());
        VqMapping m = o.mapping(List.of("io0", "io1"));
        assertEquals(List.of(0, 1, 0, 1), List.of(m.iothreadOf(0), m.iothreadOf(1), m.iothreadOf(2), m.iothreadOf(3)));
        VqMapping rr = VhostUserBlkOptions.parse("vhost-user-blk,addr.path=/s,num-queues=3,iothread-vq-mapping=round-robin")
                .mapping(List.of("io0", "io1"));
        assertEquals(List.of(0, 1, 0), List.of(rr.iothreadOf(0), rr.iothreadOf(1), rr.iothreadOf(2)));
        assertTrue(VhostUserBlkOptions.selects("vhost-user-blk,addr.path=/s"));
        assertFalse(VhostUserBlkOptions.selects("vhost-user-blk-disk"), "an NBD export name");
    }

    @Test
    void badOptionsAreNamed() {
        String p = "vhost-user-blk,addr.path=/s";
        assertRefused("vhost-user-blk", "addr.path=SOCKET is required");
        assertRefused(p + ",addr.type=inet", "only unix");
        assertRefused(p + ",num-queues=0", "num-queues");
        assertRefused(p + ",num-queues=257", "num-queues");
        assertRefused(p + ",logical-block-size=768", "power of two");
        assertRefused(p + ",writable=maybe", "writable");
        assertRefused(p + ",node-name=disk0", "unknown option [node-name]");
        assertRefused(p + ",iothread-vq-mapping.0.iothread=io0", "lists no virtqueues");
        assertRefused(p + ",iothread-vq-mapping.1.iothread=io0,iothread-vq-mapping.1.vqs.0=0", "without gaps");
        assertRefused(p + ",iothread-vq-mapping.0.iothread=io0,iothread-vq-mapping.0.vqs.1=0", "lists no virtqueues");
        assertRefused(p + ",iothread-vq-mapping.0.iothread=io0,iothread-vq-mapping.0.vqs.0=0,iothread-vq-mapping.0.vqs.2=1",
                "without gaps");
        assertRefused(p + ",iothread-vq-mapping=io0:0", "only round-robin");
        assertRefused(p + ",iothread-vq-mapping.0.iothread=io0,iothread-vq-mapping.0.vqs.0=0,"
                + "iothread-vq-mapping.1.iothread=io0,iothread-vq-mapping.1.vqs.0=1", "more than once");
        VhostUserBlkOptions twoOnOne = VhostUserBlkOptions.parse(p + ",num-queues=2,iothread-vq-mapping.0.iothread=io0,"
                + "iothread-vq-mapping.0.vqs.0=0");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> twoOnOne.mapping(List.of("io0")));
        assertTrue(e.getMessage().contains("virtqueue 1 not given"), e.getMessage());
    }

    private static void assertRefused(String spec, String why) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> VhostUserBlkOptions.parse(spec), spec);
        assertTrue(e.getMessage().contains(why), spec + ": " + e.getMessage());
    }

    /** An IOThread on the Selector monitor cannot watch kick fds; an existing socket path is not taken over. */
    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void startRefusesWhatCannotWork(@TempDir Path dir) throws Exception {
        VhostUserBlkOptions o = VhostUserBlkOptions.parse("vhost-user-blk,addr.path=" + dir.resolve("s.sock"));
        try (IOThread selector = IOThread.start("io0", IOThread.UNPINNED)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> VhostUserBlkExport.start(o, new MemoryDriver(1 << 20), List.of(selector), l -> { }, false));
            assertTrue(e.getMessage().contains("epoll monitor"), e.getMessage());
        }
        Files.writeString(o.socketPath(), "stale");
        try (IOThread io = IOThread.start("io0", IOThread.UNPINNED, PollWindow.DEFAULT_MAX_NS, EpollMonitor.FACTORY)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> VhostUserBlkExport.start(o, new MemoryDriver(1 << 20), List.of(io), l -> { }, false));
            assertTrue(e.getMessage().contains("exists"), e.getMessage());
            VhostUserBlkOptions badMapping = VhostUserBlkOptions.parse("vhost-user-blk,addr.path=" + dir.resolve("t.sock")
                    + ",iothread-vq-mapping.0.iothread=io7,iothread-vq-mapping.0.vqs.0=0");
            e = assertThrows(IllegalArgumentException.class,
                    () -> VhostUserBlkExport.start(badMapping, new MemoryDriver(1 << 20), List.of(io), l -> { }, false));
            assertTrue(e.getMessage().contains("'io7'"), e.getMessage());
            assertFalse(Files.exists(badMapping.socketPath()), "nothing listens");
        }
    }
}
