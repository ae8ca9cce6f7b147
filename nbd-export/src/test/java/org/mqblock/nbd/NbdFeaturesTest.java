package org.mqblock.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.mqblock.nbd.NbdTestClient.Chunk;
import org.mqblock.nbd.NbdTestClient.OptionReply;

/**
 * The protocol features qemu-img, nbdinfo and nbdcopy use beyond reads and writes: meta contexts
 * and BLOCK_STATUS, CACHE, FAST_ZERO and DF, and ESHUTDOWN for requests parsed once the server
 * shuts down.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class NbdFeaturesTest {

    private static final String MEM = "driver=memory,size=64M,queues=2";
    private static final int HOLE_ZERO = NbdProtocol.STATE_HOLE | NbdProtocol.STATE_ZERO;

    private static byte[] pattern(int length, int seed) {
        byte[] b = new byte[length];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** The extents of a BLOCK_STATUS reply as "length:flags". */
    private static List<String> extents(Chunk k) {
        assertEquals(NbdProtocol.CHUNK_BLOCK_STATUS, k.type(), "a block-status chunk");
        assertEquals(NbdProtocol.CHUNK_FLAG_DONE, k.flags());
        ByteBuffer p = ByteBuffer.wrap(k.payload());
        assertEquals(NbdProtocol.META_ID_BASE_ALLOCATION, p.getInt(), "the id SET_META_CONTEXT gave");
        java.util.ArrayList<String> l = new java.util.ArrayList<>();
        while (p.hasRemaining()) {
            l.add((p.getInt() & 0xffffffffL) + ":" + p.getInt());
        }
        return l;
    }

    @Test
    void listMetaContextOffersBaseAllocationAndSetNeedsStructuredReplies() throws Exception {
        try (NbdFixture f = new NbdFixture(MEM); NbdTestClient c = new NbdTestClient(f.tcp).greet()) {
            for (String[] queries : new String[][] {{}, {"base:"}, {"base:allocation", "qemu:dirty-bitmap:x"}}) {
                c.sendOption(NbdProtocol.OPT_LIST_META_CONTEXT, NbdTestClient.metaContextData("disk", queries));
                OptionReply r = c.readOptionReply();
                assertEquals(NbdProtocol.REP_META_CONTEXT, r.type(), List.of(queries).toString());
                assertEquals("base:allocation", new String(r.data(), 4, r.data().length - 4, StandardCharsets.US_ASCII));
                assertEquals(NbdProtocol.REP_ACK, c.readOptionReply().type());
            }
            c.sendOption(NbdProtocol.OPT_LIST_META_CONTEXT, NbdTestClient.metaContextData("disk", "other:thing"));
            assertEquals(NbdProtocol.REP_ACK, c.readOptionReply().type(), "an unknown namespace lists nothing");
            c.sendOption(NbdProtocol.OPT_LIST_META_CONTEXT, NbdTestClient.metaContextData("nosuch"));
            assertEquals(NbdProtocol.REP_ERR_UNKNOWN, c.readOptionReply().type());
            byte[] bad = NbdTestClient.metaContextData("disk", "base:allocation");
            c.sendOption(NbdProtocol.OPT_LIST_META_CONTEXT, java.util.Arrays.copyOf(bad, bad.length - 3));
            assertEquals(NbdProtocol.REP_ERR_INVALID, c.readOptionReply().type(), "a query past the option data");
            c.sendOption(NbdProtocol.OPT_SET_META_CONTEXT, bad);
            assertEquals(NbdProtocol.REP_ERR_INVALID, c.readOptionReply().type(), "SET before STRUCTURED_REPLY");
        }
    }

    @Test
    void blockStatusReportsWrittenDataAndHolesAndNeedsTheContext() throws Exception {
        try (NbdFixture f = new NbdFixture(MEM);
             NbdTestClient c = NbdTestClient.connectWithAllocation(f.tcp, "disk");
             NbdTestClient plain = NbdTestClient.connect(f.tcp, "disk")) {
            assertEquals(0, plain.write(1, 1 << 20, pattern(100 << 10, 1)).error());
            c.sendRequest(0, NbdProtocol.CMD_BLOCK_STATUS, 2, 0, 4 << 20, null);
            c.out.flush();
            assertEquals(List.of((1 << 20) + ":" + HOLE_ZERO, (128 << 10) + ":0", ((3 << 20) - (128 << 10)) + ":" + HOLE_ZERO),
                    extents(c.readChunk()), "100 KiB written at 1 MiB: two 64 KiB granules of data");
            c.sendRequest(NbdProtocol.CMD_FLAG_REQ_ONE, NbdProtocol.CMD_BLOCK_STATUS, 3, 4096, 4 << 20, null);
            c.out.flush();
            assertEquals(List.of(((1 << 20) - 4096) + ":" + HOLE_ZERO), extents(c.readChunk()), "REQ_ONE: one extent");
            c.sendRequest(0, NbdProtocol.CMD_BLOCK_STATUS, 4, 64L << 20, 4096, null);
            c.sendRequest(NbdProtocol.CMD_FLAG_FUA, NbdProtocol.CMD_BLOCK_STATUS, 5, 0, 4096, null);
            c.out.flush();
            for (int handle = 4; handle <= 5; handle++) {
                Chunk k = c.readChunk();
                assertEquals(handle, k.handle());
                assertEquals(NbdProtocol.CHUNK_ERROR, k.type(), "past the end, or a flag it does not take");
                assertEquals(NbdProtocol.EINVAL, ByteBuffer.wrap(k.payload()).getInt());
            }
            assertEquals(NbdProtocol.EINVAL, plain.command(0, NbdProtocol.CMD_BLOCK_STATUS, 6, 0, 4096, null, 0).error(),
                    "no base:allocation negotiated");
            assertEquals(0, plain.read(7, 0, 4096).error(), "and the connection goes on");
        }
    }

    @Test
    void cacheFastZeroAndDfAreAccepted() throws Exception {
        try (NbdFixture f = new NbdFixture(MEM); NbdTestClient c = NbdTestClient.connectWithAllocation(f.tcp, "disk")) {
            assertTrue((c.transmissionFlags & NbdProtocol.TFLAG_SEND_DF) != 0, "DF with structured replies");
            assertTrue((c.transmissionFlags & NbdProtocol.TFLAG_SEND_CACHE) != 0);
            assertTrue((c.transmissionFlags & NbdProtocol.TFLAG_SEND_FAST_ZERO) != 0);
            byte[] d = pattern(8192, 2);
            c.sendRequest(0, NbdProtocol.CMD_WRITE, 1, 0, d.length, d);
            c.sendRequest(NbdProtocol.CMD_FLAG_FAST_ZERO | NbdProtocol.CMD_FLAG_NO_HOLE, NbdProtocol.CMD_WRITE_ZEROES, 2, 0, 4096, null);
            c.sendRequest(0, NbdProtocol.CMD_CACHE, 3, 0, 1 << 20, null);
            c.sendRequest(0, NbdProtocol.CMD_CACHE, 4, 64L << 20, 4096, null);
            c.out.flush();
            Map<Long, Chunk> byHandle = new HashMap<>();
            for (int i = 0; i < 4; i++) {
                Chunk k = c.readChunk();
                byHandle.put(k.handle(), k);
            }
            assertEquals(NbdProtocol.CHUNK_NONE, byHandle.get(1L).type());
            assertEquals(NbdProtocol.CHUNK_NONE, byHandle.get(2L).type(), "FAST_ZERO: the memory driver zeroes natively");
            assertEquals(NbdProtocol.CHUNK_NONE, byHandle.get(3L).type(), "CACHE in range succeeds");
            assertEquals(NbdProtocol.CHUNK_ERROR, byHandle.get(4L).type(), "CACHE past the end is EINVAL");
            c.sendRequest(NbdProtocol.CMD_FLAG_DF, NbdProtocol.CMD_READ, 5, 0, 8192, null);
            c.out.flush();
            Chunk k = c.readChunk();
            assertEquals(NbdProtocol.CHUNK_OFFSET_DATA, k.type(), "DF: the whole read in one data chunk");
            byte[] want = d.clone();
            java.util.Arrays.fill(want, 0, 4096, (byte) 0);
            assertArrayEquals(want, java.util.Arrays.copyOfRange(k.payload(), 8, k.payload().length));
        }
    }

    @Test
    void dfWithoutStructuredRepliesIsEinval() throws Exception {
        try (NbdFixture f = new NbdFixture(MEM); NbdTestClient c = NbdTestClient.connect(f.tcp, "disk")) {
            assertEquals(0, c.transmissionFlags & NbdProtocol.TFLAG_SEND_DF);
            assertEquals(NbdProtocol.EINVAL, c.command(NbdProtocol.CMD_FLAG_DF, NbdProtocol.CMD_READ, 1, 0, 4096, null, 0).error());
        }
    }

    /**
     * 128 slow reads fill every slot; 10 more wait in the input. The server shuts down while the
     * 128 are in the block layer: those are answered with their data, the 10 parsed after the
     * shutdown began get ESHUTDOWN, each exactly once, and then the connection closes.
     */
    @Test
    void requestsParsedAfterShutdownBeganGetEshutdown() throws Exception {
        int slots = NbdTransmission.MAX_SLOTS;
        int extra = 10;
        NbdFixture f = new NbdFixture(1, "disk", "driver=latency,size=64M,read-latency-us=2000000,dist=fixed,parallelism=1024,queues=1");
        try (NbdTestClient c = NbdTestClient.connect(f.tcp, "disk")) {
            for (int i = 0; i < slots + extra; i++) {
                c.sendRequest(0, NbdProtocol.CMD_READ, i, (long) i * 4096, 4096, null);
            }
            c.out.flush();
            while (f.backends.get(0).node().inFlight() < slots) {
                Thread.sleep(5); // bounded by the class timeout
            }
            Thread closer = new Thread(() -> f.server.close(20_000), "nbd-test-closer");
            closer.start();
            Map<Long, Integer> errors = new HashMap<>();
            for (int i = 0; i < slots + extra; i++) {
                NbdTestClient.Reply r = c.readReply(4096);
                assertEquals(null, errors.put(r.handle(), r.error()), "handle " + r.handle() + " answered twice");
            }
            for (long h = 0; h < slots + extra; h++) {
                assertEquals(h < slots ? 0 : NbdProtocol.ESHUTDOWN, errors.get(h), "handle " + h);
            }
            assertTrue(c.closedByServer(), "closed once everything is answered");
            closer.join();
        } finally {
            f.close();
        }
    }

    /**
     * A client that does not wait for replies: structured replies, the meta context, GO and a
     * write and a read behind it, all in one send. Every option is answered in order and the
     * requests that came with GO are served from the transmission phase's buffer.
     */
    @Test
    void pipelinedOptionsAndRequestsBehindGoAreAllServed() throws Exception {
        try (NbdFixture f = new NbdFixture(MEM); NbdTestClient c = new NbdTestClient(f.tcp).greet()) {
            byte[] d = pattern(4096, 9);
            c.out.writeLong(NbdProtocol.IHAVEOPT);
            c.out.writeInt(NbdProtocol.OPT_STRUCTURED_REPLY);
            c.out.writeInt(0);
            byte[] meta = NbdTestClient.metaContextData("disk", NbdProtocol.META_BASE_ALLOCATION);
            c.out.writeLong(NbdProtocol.IHAVEOPT);
            c.out.writeInt(NbdProtocol.OPT_SET_META_CONTEXT);
            c.out.writeInt(meta.length);
            c.out.write(meta);
            byte[] go = NbdTestClient.goData("disk");
            c.out.writeLong(NbdProtocol.IHAVEOPT);
            c.out.writeInt(NbdProtocol.OPT_GO);
            c.out.writeInt(go.length);
            c.out.write(go);
            c.sendRequest(0, NbdProtocol.CMD_WRITE, 1, 12288, d.length, d);
            c.sendRequest(0, NbdProtocol.CMD_READ, 2, 12288, d.length, null);
            c.out.flush();
            assertEquals(NbdProtocol.REP_ACK, c.readOptionReply().type(), "STRUCTURED_REPLY");
            assertEquals(NbdProtocol.REP_META_CONTEXT, c.readOptionReply().type());
            assertEquals(NbdProtocol.REP_ACK, c.readOptionReply().type(), "SET_META_CONTEXT");
            OptionReply r;
            while ((r = c.readOptionReply()).type() == NbdProtocol.REP_INFO) {
                // block size, export
            }
            assertEquals(NbdProtocol.REP_ACK, r.type(), "GO");
            assertEquals(NbdProtocol.CHUNK_NONE, c.readChunk().type(), "the write");
            Chunk k = c.readChunk();
            assertEquals(2, k.handle());
            assertArrayEquals(d, java.util.Arrays.copyOfRange(k.payload(), 8, k.payload().length), "the read");
        }
    }
}
