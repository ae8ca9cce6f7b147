package org.mqblock.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Clients that try to take the server down, from raw sockets on loopback: pipelining huge reads
 * and never reading the replies, flooding it with connections, never finishing the handshake,
 * sending options forever. Memory is read from the JVM's direct buffer pool, where every buffer
 * the server allocates for a client is counted.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class AbusiveClientsTest {

    private static final int MIB = 1 << 20;
    private static final BufferPoolMXBean DIRECT = ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)
            .stream().filter(p -> p.getName().equals("direct")).findFirst().orElseThrow();

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        while (!condition.getAsBoolean()) {
            Thread.sleep(5); // bounded by the class timeout; the message says what never happened
        }
    }

    /** Sends {@code n} reads of 32 MiB and reads no reply. */
    private static NbdTestClient hog(NbdFixture f, int n) throws Exception {
        NbdTestClient c = NbdTestClient.connect(f.tcp, "disk");
        for (int i = 0; i < n; i++) {
            c.sendRequest(0, NbdProtocol.CMD_READ, i, 0, 32 * MIB, null);
        }
        c.out.flush();
        return c;
    }

    @Test
    void clientsThatNeverReadRepliesPinNoMoreThanTheirBudgetAndOthersAreServed() throws Exception {
        NbdLimits limits = NbdLimits.DEFAULTS.withBuffers(64L * MIB, 512L * MIB);
        try (NbdFixture f = new NbdFixture(limits, 2, "disk", "driver=memory,size=64M,queues=2")) {
            long before = DIRECT.getMemoryUsed();
            List<NbdTestClient> hogs = new ArrayList<>();
            try {
                for (int i = 0; i < 2; i++) {
                    hogs.add(hog(f, 128));
                }
                await("both hogs at their budget", () -> f.server.bufferBytes() >= 2 * 64L * MIB);
                try (NbdTestClient good = NbdTestClient.connect(f.tcp, "disk")) {
                    byte[] d = new byte[4096];
                    java.util.Arrays.fill(d, (byte) 7);
                    assertEquals(0, good.write(1, 8192, d).error());
                    assertArrayEquals(d, good.read(2, 8192, 4096).data(), "another client is served meanwhile");
                }
                long grown = DIRECT.getMemoryUsed() - before;
                System.out.println("direct memory grew " + (grown >> 20) + " MiB under 2 hogs of 128 x 32 MiB reads");
                assertEquals(2 * 64L * MIB, f.server.bufferBytes() - 4096, "64 MiB each, plus the good client's 4 KiB");
                assertTrue(grown < 2 * 64L * MIB + 16 * MIB, "grew " + grown + " bytes; 128 MiB of budgets");
            } finally {
                for (NbdTestClient h : hogs) {
                    h.close();
                }
            }
            await("the hogs' buffers given back", () -> f.server.bufferPool().lentBytes() == 0);
            await("the hogs' connections gone", () -> f.server.connectionCount() == 0);
        }
    }

    @Test
    void theServerBudgetBoundsAllClientsAndAWaitingClientGoesOnWhenOneLeaves() throws Exception {
        NbdLimits limits = NbdLimits.DEFAULTS.withBuffers(64L * MIB, 96L * MIB);
        try (NbdFixture f = new NbdFixture(limits, 2, "disk", "driver=memory,size=64M,queues=2")) {
            long before = DIRECT.getMemoryUsed();
            NbdTestClient a = hog(f, 16);
            NbdTestClient b = hog(f, 16);
            NbdTestClient late = NbdTestClient.connect(f.tcp, "disk");
            try {
                await("the pool full", () -> f.server.bufferPool().lentBytes() == 96L * MIB);
                late.sendRequest(0, NbdProtocol.CMD_READ, 99, 0, 4096, null);
                late.out.flush();
                assertTrue(f.server.bufferBytes() <= 96L * MIB, "the pool never passes its budget");
                assertTrue(DIRECT.getMemoryUsed() - before < 96L * MIB + 16 * MIB, "direct memory within the budget");
                a.close(); // its buffers come back, and the waiting read goes on
                NbdTestClient.Reply r = late.readReply(4096);
                assertEquals(99, r.handle());
                assertEquals(0, r.error());
            } finally {
                a.close();
                b.close();
                late.close();
            }
        }
    }

    @Test
    void aConnectionFloodIsCappedAndSilentClientsAreDroppedAtTheHandshakeDeadline() throws Exception {
        NbdLimits limits = NbdLimits.DEFAULTS.withMaxConnections(200).withHandshakeTimeoutMs(1500);
        try (NbdFixture f = new NbdFixture(limits, 2, "disk", "driver=memory,size=16M,queues=2")) {
            long before = DIRECT.getMemoryUsed();
            List<Socket> flood = new ArrayList<>();
            try {
                for (int i = 0; i < 300; i++) {
                    flood.add(new Socket("127.0.0.1", f.tcp.getPort())); // and then nothing
                }
                await("every client accepted or refused", () -> f.server.acceptedCount() + f.server.refusedCount() == 300);
                assertEquals(200, f.server.acceptedCount(), "the cap");
                assertEquals(100, f.server.refusedCount());
                long grown = DIRECT.getMemoryUsed() - before;
                System.out.println("200 idle connections: direct memory grew " + (grown >> 10) + " KiB");
                assertTrue(grown < 200L * 32 * 1024, "at most 32 KiB per negotiating client, got " + grown);
                await("silent clients dropped at the deadline", () -> f.server.connectionCount() == 0);
                assertTrue(f.log.stream().anyMatch(l -> l.contains("no transmission after 1500 ms")), f.log.toString());
                try (NbdTestClient c = NbdTestClient.connect(f.tcp, "disk")) {
                    assertEquals(0, c.read(1, 0, 4096).error(), "a new client is served once the flood is gone");
                }
            } finally {
                for (Socket s : flood) {
                    s.close();
                }
            }
        }
    }

    @Test
    void aHandshakeOfEndlessOptionsIsCut() throws Exception {
        NbdLimits limits = NbdLimits.DEFAULTS.withMaxOptions(8);
        try (NbdFixture f = new NbdFixture(limits, 1, "disk", "driver=memory,size=16M,queues=1");
             NbdTestClient c = new NbdTestClient(f.tcp).greet()) {
            for (int i = 0; i < 8; i++) {
                c.sendOption(NbdProtocol.OPT_LIST, new byte[0]);
                assertEquals(NbdProtocol.REP_SERVER, c.readOptionReply().type());
                assertEquals(NbdProtocol.REP_ACK, c.readOptionReply().type());
            }
            c.sendOption(NbdProtocol.OPT_LIST, new byte[0]);
            assertTrue(c.closedByServer(), "the ninth option closes the connection");
            await("the connection gone", () -> f.server.connectionCount() == 0);
            assertTrue(f.log.stream().anyMatch(l -> l.contains("more than 8 options")), f.log.toString());
        }
    }
}
