package org.mqblock.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.mqblock.block.BlockDriverState;
import org.mqblock.nbd.NbdTestClient.OptionReply;
import org.mqblock.nbd.NbdTestClient.Reply;

/** The server against a hand-written client: handshake, every command, and malformed input. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class NbdServerTest {

    private static final String MEM = "driver=memory,size=64M,queues=4";

    private static byte[] pattern(int length, int seed) {
        byte[] b = new byte[length];
        new Random(seed).nextBytes(b);
        return b;
    }

    // ---------------------------------------------------------------------------------------
    // Handshake

    @Test
    void goReportsSizeFlagsAndBlockSizes() throws Exception {
        try (NbdFixture f = new NbdFixture(MEM); NbdTestClient c = new NbdTestClient(f.tcp).greet()) {
            assertEquals(NbdProtocol.FLAG_FIXED_NEWSTYLE | NbdProtocol.FLAG_NO_ZEROES, c.handshakeFlags);
            List<OptionReply> r = c.go(NbdProtocol.OPT_GO, "disk", NbdProtocol.INFO_NAME, NbdProtocol.INFO_BLOCK_SIZE);
            assertEquals(NbdProtocol.REP_ACK, r.get(r.size() - 1).type());
            assertEquals(64L << 20, c.exportSize);
            int want = NbdProtocol.TFLAG_HAS_FLAGS | NbdProtocol.TFLAG_SEND_FLUSH | NbdProtocol.TFLAG_SEND_FUA
                    | NbdProtocol.TFLAG_SEND_TRIM | NbdProtocol.TFLAG_SEND_WRITE_ZEROES | NbdProtocol.TFLAG_CAN_MULTI_CONN;
            assertEquals(want, c.transmissionFlags);
            assertEquals(512, c.minBlock);
            assertEquals(4096, c.prefBlock);
            assertEquals(32 << 20, c.maxBlock);
            assertTrue(r.stream().anyMatch(x -> x.type() == NbdProtocol.REP_INFO
                    && ByteBuffer.wrap(x.data()).getShort() == NbdProtocol.INFO_NAME
                    && new String(x.data(), 2, x.data().length - 2, StandardCharsets.UTF_8).equals("disk")));
            assertArrayEquals(new byte[4096], c.read(1, 0, 4096).data());
        }
    }

    @Test
    void exportNameEntersTransmissionWithAndWithoutZeroes() throws Exception {
        try (NbdFixture f = new NbdFixture(MEM)) {
            for (boolean noZeroes : new boolean[] {true, false}) {
                try (NbdTestClient c = new NbdTestClient(f.tcp)) {
                    c.greet(NbdProtocol.CLIENT_FLAG_FIXED_NEWSTYLE | (noZeroes ? NbdProtocol.CLIENT_FLAG_NO_ZEROES : 0));
                    c.sendOption(NbdProtocol.OPT_EXPORT_NAME, "disk".getBytes(StandardCharsets.UTF_8));
                    assertEquals(64L << 20, c.in.readLong());
                    assertEquals(NbdProtocol.TFLAG_HAS_FLAGS, c.in.readUnsignedShort() & NbdProtocol.TFLAG_HAS_FLAGS);
                    if (!noZeroes) {
                        byte[] z = new byte[124];
                        c.in.readFully(z);
                        assertArrayEquals(new byte[124], z);
                    }
                    assertEquals(0, c.write(7, 4096, pattern(4096, 1)).error());
                    assertArrayEquals(pattern(4096, 1), c.read(8, 4096, 4096).data());
                }
            }
        }
    }

    @Test
    void listNamesEveryExportAndInfoStaysInTheHandshake() throws Exception {
        try (NbdFixture f = new NbdFixture(2, "a", MEM, "b:ro", MEM); NbdTestClient c = new NbdTestClient(f.tcp).greet()) {
            c.sendOption(NbdProtocol.OPT_LIST, new byte[0]);
            Set<String> names = new HashSet<>();
            OptionReply r;
            while ((r = c.readOptionReply()).type() == NbdProtocol.REP_SERVER) {
                ByteBuffer b = ByteBuffer.wrap(r.data());
                byte[] n = new byte[b.getInt()];
                b.get(n);
                names.add(new String(n, StandardCharsets.UTF_8));
            }
            assertEquals(NbdProtocol.REP_ACK, r.type());
            assertEquals(Set.of("a", "b"), names);

            List<OptionReply> info = c.go(NbdProtocol.OPT_INFO, "b");
            assertEquals(NbdProtocol.REP_ACK, info.get(info.size() - 1).type());
            assertTrue((c.transmissionFlags & NbdProtocol.TFLAG_READ_ONLY) != 0, "b is read-only");

            c.sendOption(NbdProtocol.OPT_LIST, new byte[3]); // LIST takes no data
            assertEquals(NbdProtocol.REP_ERR_INVALID, c.readOptionReply().type());

            List<OptionReply> go = c.go(NbdProtocol.OPT_GO, ""); // the default export is the first
            assertEquals(NbdProtocol.REP_ACK, go.get(go.size() - 1).type());
            assertEquals(0, (c.transmissionFlags & NbdProtocol.TFLAG_READ_ONLY));
        }
    }

    @Test
    void unknownOptionGetsErrUnsupAndTheHandshakeGoesOn() throws Exception {
        try (NbdFixture f = new NbdFixture(MEM); NbdTestClient c = new NbdTestClient(f.tcp).greet()) {
            c.sendOption(4242, "junk".getBytes(StandardCharsets.UTF_8));
            OptionReply r = c.readOptionReply();
            assertEquals(4242, r.option());
            assertEquals(NbdProtocol.REP_ERR_UNSUP, r.type());
            c.sendOption(NbdProtocol.OPT_STARTTLS, new byte[0]);
            assertEquals(NbdProtocol.REP_ERR_UNSUP, c.readOptionReply().type());
            List<OptionReply> go = c.go(NbdProtocol.OPT_GO, "disk");
            assertEquals(NbdProtocol.REP_ACK, go.get(go.size() - 1).type());
        }
    }

    @Test
    void badGoDataGetsErrInvalidAndUnknownExportErrUnknown() throws Exception {
        try (NbdFixture f = new NbdFixture(MEM); NbdTestClient c = new NbdTestClient(f.tcp).greet()) {
            c.sendOption(NbdProtocol.OPT_GO, new byte[] {0, 0, 1, 0, 0}); // name length past the data
            assertEquals(NbdProtocol.REP_ERR_INVALID, c.readOptionReply().type());
            byte[] d = NbdTestClient.goData("disk", NbdProtocol.INFO_NAME);
            c.sendOption(NbdProtocol.OPT_GO, Arrays.copyOf(d, d.length - 1)); // info list cut short
            assertEquals(NbdProtocol.REP_ERR_INVALID, c.readOptionReply().type());
            List<OptionReply> r = c.go(NbdProtocol.OPT_GO, "nope");
            assertEquals(NbdProtocol.REP_ERR_UNKNOWN, r.get(0).type());
            assertTrue(r.get(0).text().contains("nope"), r.get(0).text());
            List<OptionReply> go = c.go(NbdProtocol.OPT_GO, "disk");
            assertEquals(NbdProtocol.REP_ACK, go.get(go.size() - 1).type());
        }
    }

    @Test
    void structuredRepliesCarryReadDataErrorsAndDone() throws Exception {
        try (NbdFixture f = new NbdFixture(MEM); NbdTestClient c = new NbdTestClient(f.tcp).greet()) {
            c.sendOption(NbdProtocol.OPT_STRUCTURED_REPLY, new byte[1]);
            assertEquals(NbdProtocol.REP_ERR_INVALID, c.readOptionReply().type(), "takes no data");
            c.sendOption(NbdProtocol.OPT_STRUCTURED_REPLY, new byte[0]);
            assertEquals(NbdProtocol.REP_ACK, c.readOptionReply().type());
            c.sendOption(NbdProtocol.OPT_STRUCTURED_REPLY, new byte[0]);
            assertEquals(NbdProtocol.REP_ERR_INVALID, c.readOptionReply().type(), "only once");
            List<OptionReply> go = c.go(NbdProtocol.OPT_GO, "disk");
            assertEquals(NbdProtocol.REP_ACK, go.get(go.size() - 1).type());

            byte[] d = pattern(8192, 13);
            c.sendRequest(0, NbdProtocol.CMD_WRITE, 1, 8192, d.length, d);
            c.sendRequest(0, NbdProtocol.CMD_READ, 2, 8192, d.length, null);
            c.sendRequest(0, NbdProtocol.CMD_READ, 3, 64L << 20, 4096, null);
            c.out.flush();
            for (int i = 0; i < 3; i++) {
                NbdTestClient.Chunk k = c.readChunk();
                assertEquals(NbdProtocol.CHUNK_FLAG_DONE, k.flags(), "one chunk per reply, marked done");
                ByteBuffer p = ByteBuffer.wrap(k.payload());
                if (k.handle() == 1) {
                    assertEquals(NbdProtocol.CHUNK_NONE, k.type());
                    assertEquals(0, k.payload().length);
                } else if (k.handle() == 2) {
                    assertEquals(NbdProtocol.CHUNK_OFFSET_DATA, k.type());
                    assertEquals(8192, p.getLong());
                    assertArrayEquals(d, Arrays.copyOfRange(k.payload(), 8, k.payload().length));
                } else {
                    assertEquals(3, k.handle());
                    assertEquals(NbdProtocol.CHUNK_ERROR, k.type());
                    assertEquals(NbdProtocol.EINVAL, p.getInt());
                    assertEquals(0, p.getShort(), "no message");
                }
            }
        }
    }

    @Test
    void oversizedOptionGetsErrTooBigAndItsDataIsSkipped() throws Exception {
        try (NbdFixture f = new NbdFixture(MEM); NbdTestClient c = new NbdTestClient(f.tcp).greet()) {
            c.sendOption(NbdProtocol.OPT_INFO, new byte[1 << 20]);
            assertEquals(NbdProtocol.REP_ERR_TOO_BIG, c.readOptionReply().type());
            List<OptionReply> go = c.go(NbdProtocol.OPT_GO, "disk");
            assertEquals(NbdProtocol.REP_ACK, go.get(go.size() - 1).type());
        }
    }

    @Test
    void abortIsAcknowledgedThenClosed() throws Exception {
        try (NbdFixture f = new NbdFixture(MEM); NbdTestClient c = new NbdTestClient(f.tcp).greet()) {
            c.sendOption(NbdProtocol.OPT_ABORT, new byte[0]);
            assertEquals(NbdProtocol.REP_ACK, c.readOptionReply().type());
            assertTrue(c.closedByServer());
        }
    }

    @Test
    void unknownClientFlagsOrUnknownExportNameCloseTheConnection() throws Exception {
        try (NbdFixture f = new NbdFixture(MEM)) {
            try (NbdTestClient c = new NbdTestClient(f.tcp).greet(0x80)) {
                assertTrue(c.closedByServer());
            }
            try (NbdTestClient c = new NbdTestClient(f.tcp).greet()) {
                c.sendOption(NbdProtocol.OPT_EXPORT_NAME, "nope".getBytes(StandardCharsets.UTF_8));
                assertTrue(c.closedByServer());
            }
            awaitConnections(f, 0);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Commands

    @Test
    void everyCommandDoesWhatItSays() throws Exception {
        try (NbdFixture f = new NbdFixture(MEM); NbdTestClient c = NbdTestClient.connect(f.tcp, "disk")) {
            byte[] a = pattern(64 << 10, 2);
            assertEquals(0, c.write(1, 1 << 20, a).error());
            assertArrayEquals(a, c.read(2, 1 << 20, a.length).data());
            assertEquals(0, c.command(0, NbdProtocol.CMD_FLUSH, 3, 0, 0, null, 0).error());

            assertEquals(0, c.command(0, NbdProtocol.CMD_TRIM, 4, 1 << 20, 4096, null, 0).error());
            byte[] afterTrim = c.read(5, 1 << 20, 8192).data();
            assertArrayEquals(new byte[4096], Arrays.copyOf(afterTrim, 4096));
            assertArrayEquals(Arrays.copyOfRange(a, 4096, 8192), Arrays.copyOfRange(afterTrim, 4096, 8192));

            assertEquals(0, c.command(NbdProtocol.CMD_FLAG_NO_HOLE, NbdProtocol.CMD_WRITE_ZEROES, 6, (1 << 20) + 8192, 8192, null, 0).error());
            assertArrayEquals(new byte[8192], c.read(7, (1 << 20) + 8192, 8192).data());

            byte[] b = pattern(4096, 3);
            assertEquals(0, c.command(NbdProtocol.CMD_FLAG_FUA, NbdProtocol.CMD_WRITE, 8, 0, 4096, b, 0).error());
            assertArrayEquals(b, c.read(9, 0, 4096).data());

            assertEquals(0, c.command(0, NbdProtocol.CMD_READ, 10, 0, 0, null, 0).error(), "zero-length read");

            c.disconnect();
            assertTrue(c.closedByServer());
            awaitConnections(f, 0);
        }
    }

    @Test
    void unknownCommandOrFlagGetsEinvalAndTheConnectionGoesOn() throws Exception {
        try (NbdFixture f = new NbdFixture(MEM); NbdTestClient c = NbdTestClient.connect(f.tcp, "disk")) {
            assertEquals(NbdProtocol.EINVAL, c.command(0, 77, 1, 0, 4096, null, 0).error());
            assertEquals(NbdProtocol.EINVAL, c.command(0x4000, NbdProtocol.CMD_READ, 2, 0, 4096, null, 4096).error());
            assertEquals(NbdProtocol.EINVAL, c.command(NbdProtocol.CMD_FLAG_NO_HOLE, NbdProtocol.CMD_WRITE, 3, 0, 512,
                    new byte[512], 0).error(), "NO_HOLE is for WRITE_ZEROES only; the payload is skipped");
            assertEquals(0, c.read(4, 0, 512).error());
        }
    }

    @Test
    void outOfRangeReadIsEinvalAndWriteIsEnospc() throws Exception {
        long size = 64L << 20;
        try (NbdFixture f = new NbdFixture(MEM); NbdTestClient c = NbdTestClient.connect(f.tcp, "disk")) {
            assertEquals(NbdProtocol.EINVAL, c.read(1, size - 4096, 8192).error());
            assertEquals(NbdProtocol.ENOSPC, c.write(2, size, pattern(4096, 4)).error());
            assertEquals(NbdProtocol.ENOSPC, c.command(0, NbdProtocol.CMD_WRITE_ZEROES, 3, size - 512, 1024, null, 0).error());
            assertEquals(NbdProtocol.EINVAL, c.command(0, NbdProtocol.CMD_TRIM, 4, size, 512, null, 0).error());
            assertEquals(NbdProtocol.EINVAL, c.read(5, Long.MAX_VALUE - 100, 4096).error(), "offset + length overflows");
            assertEquals(NbdProtocol.EINVAL, c.read(6, -4096, 4096).error(), "offset above 2^63");
            assertEquals(0, c.read(7, 100, 512).error(), "misaligned: the block layer pads it");
            byte[] last = pattern(4096, 5);
            assertEquals(0, c.write(8, size - 4096, last).error(), "the stream stayed in step");
            assertArrayEquals(last, c.read(9, size - 4096, 4096).data());
        }
    }

    @Test
    void oversizedRequestsGetEinvalAndAWritesPayloadIsSkipped() throws Exception {
        try (NbdFixture f = new NbdFixture(MEM); NbdTestClient c = NbdTestClient.connect(f.tcp, "disk")) {
            int tooBig = c.maxBlock + 512;
            assertEquals(NbdProtocol.EINVAL, c.read(1, 0, tooBig).error());
            assertEquals(NbdProtocol.EINVAL, c.write(2, 0, new byte[tooBig]).error());
            // the largest allowed request works, through the direct payload path
            byte[] max = pattern(c.maxBlock, 6);
            assertEquals(0, c.write(3, 0, max).error());
            assertArrayEquals(max, c.read(4, 0, max.length).data());
        }
    }

    @Test
    void readOnlyExportRefusesWritesWithEperm() throws Exception {
        try (NbdFixture f = new NbdFixture(2, "ro:ro", MEM); NbdTestClient c = NbdTestClient.connect(f.tcp, "ro")) {
            assertTrue((c.transmissionFlags & NbdProtocol.TFLAG_READ_ONLY) != 0);
            assertEquals(NbdProtocol.EPERM, c.write(1, 0, pattern(4096, 7)).error());
            assertEquals(NbdProtocol.EPERM, c.command(0, NbdProtocol.CMD_TRIM, 2, 0, 4096, null, 0).error());
            assertEquals(NbdProtocol.EPERM, c.command(0, NbdProtocol.CMD_WRITE_ZEROES, 3, 0, 4096, null, 0).error());
            assertEquals(0, c.command(0, NbdProtocol.CMD_FLUSH, 4, 0, 0, null, 0).error());
            assertArrayEquals(new byte[4096], c.read(5, 0, 4096).data());
        }
    }

    @Test
    void pipelinedRequestsBeyondTheSlotCountAreAllAnsweredOnce() throws Exception {
        int n = NbdConnection.MAX_SLOTS * 3;
        try (NbdFixture f = new NbdFixture(MEM); NbdTestClient c = NbdTestClient.connect(f.tcp, "disk")) {
            for (int i = 0; i < n; i++) {
                c.sendRequest(0, NbdProtocol.CMD_WRITE, i, (long) i * 4096, 4096, pattern(4096, 100 + i));
            }
            c.out.flush();
            Set<Long> seen = new HashSet<>();
            for (int i = 0; i < n; i++) {
                Reply r = c.readReply(0);
                assertEquals(0, r.error());
                assertTrue(r.handle() >= 0 && r.handle() < n, "a reply for handle " + r.handle() + ", never sent");
                assertTrue(seen.add(r.handle()), "handle " + r.handle() + " answered twice");
            }
            for (int i = 0; i < n; i++) {
                c.sendRequest(0, NbdProtocol.CMD_READ, 1000 + i, (long) i * 4096, 4096, null);
            }
            c.out.flush();
            Set<Long> read = new HashSet<>();
            for (int i = 0; i < n; i++) {
                Reply r = c.readReply(4096);
                assertEquals(0, r.error());
                assertTrue(r.handle() >= 1000 && r.handle() < 1000 + n, "a reply for handle " + r.handle() + ", never sent");
                assertTrue(read.add(r.handle()), "read " + r.handle() + " answered twice");
                assertArrayEquals(pattern(4096, 100 + (int) (r.handle() - 1000)), r.data());
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Misbehaving clients affect only themselves

    @Test
    void badRequestMagicClosesOnlyThatConnection() throws Exception {
        try (NbdFixture f = new NbdFixture(MEM); NbdTestClient good = NbdTestClient.connect(f.tcp, "disk");
             NbdTestClient bad = NbdTestClient.connect(f.tcp, "disk")) {
            bad.out.writeInt(0xdeadbeef);
            bad.out.write(new byte[24]);
            bad.out.flush();
            assertTrue(bad.closedByServer());
            assertEquals(0, good.write(1, 0, pattern(4096, 8)).error());
            assertTrue(f.log.stream().anyMatch(l -> l.contains("bad request magic")), f.log.toString());
        }
    }

    @Test
    void truncatedHeaderThenVanishingLeavesOtherConnectionsServing() throws Exception {
        try (NbdFixture f = new NbdFixture(MEM); NbdTestClient good = NbdTestClient.connect(f.tcp, "disk")) {
            try (NbdTestClient bad = NbdTestClient.connect(f.tcp, "disk")) {
                bad.out.writeInt(NbdProtocol.REQUEST_MAGIC);
                bad.out.writeShort(0);
                bad.out.flush(); // 6 of 28 bytes
            }
            try (NbdTestClient bad = NbdTestClient.connect(f.tcp, "disk")) {
                bad.sendRequest(0, NbdProtocol.CMD_WRITE, 1, 0, 1 << 20, new byte[1000]); // payload cut short
                bad.out.flush();
            }
            try (NbdTestClient bad = new NbdTestClient(f.tcp).greet()) {
                bad.out.writeLong(NbdProtocol.IHAVEOPT); // option header cut short
                bad.out.flush();
            }
            awaitConnections(f, 1);
            byte[] d = pattern(8192, 9);
            assertEquals(0, good.write(1, 0, d).error());
            assertArrayEquals(d, good.read(2, 0, 8192).data());
            try (NbdTestClient again = NbdTestClient.connect(f.tcp, "disk")) {
                assertArrayEquals(d, again.read(3, 0, 8192).data(), "the cut-short write changed nothing");
            }
        }
    }

    @Test
    void acknowledgedWritesSurviveAClientVanishingAndAServerShutdown(@TempDir Path dir) throws Exception {
        Path img = dir.resolve("disk.img");
        String opts = "driver=file,filename=" + img + ",size=16M,queues=4";
        byte[][] data = new byte[64][];
        NbdFixture f = new NbdFixture(opts);
        try {
            NbdTestClient c = NbdTestClient.connect(f.tcp, "disk");
            for (int i = 0; i < 64; i++) {
                data[i] = pattern(4096, 200 + i);
                c.sendRequest(0, NbdProtocol.CMD_WRITE, i, (long) i * 8192, 4096, data[i]);
            }
            c.out.flush();
            BitSet acknowledged = new BitSet(64);
            for (int i = 0; i < 64; i++) {
                Reply r = c.readReply(0);
                assertEquals(0, r.error());
                assertTrue(r.handle() >= 0 && r.handle() < 64 && !acknowledged.get((int) r.handle()),
                        "handle " + r.handle() + " never sent or answered twice");
                acknowledged.set((int) r.handle());
            }
            // more writes, then vanish without waiting for their replies
            for (int i = 0; i < 32; i++) {
                c.sendRequest(0, NbdProtocol.CMD_WRITE, 100 + i, (long) i * 8192 + 4096, 4096, pattern(4096, 300 + i));
            }
            c.out.flush();
            c.close();
        } finally {
            f.close(); // graceful: drain, flush, close the image
        }
        byte[] file = Files.readAllBytes(img);
        for (int i = 0; i < 64; i++) {
            assertArrayEquals(data[i], Arrays.copyOfRange(file, i * 8192, i * 8192 + 4096), "acknowledged write " + i);
        }
    }

    @Test
    void multiConnFlushOnOneConnectionCoversWritesAcknowledgedOnAnother(@TempDir Path dir) throws Exception {
        Path img = dir.resolve("disk.img");
        try (NbdFixture f = new NbdFixture("driver=file,filename=" + img + ",size=16M,queues=4");
             NbdTestClient a = NbdTestClient.connect(f.tcp, "disk"); NbdTestClient b = NbdTestClient.connect(f.tcp, "disk")) {
            assertTrue((a.transmissionFlags & NbdProtocol.TFLAG_CAN_MULTI_CONN) != 0);
            byte[] d = pattern(4096, 10);
            assertEquals(0, a.write(1, 4096, d).error());
            assertEquals(0, b.command(0, NbdProtocol.CMD_FLUSH, 2, 0, 0, null, 0).error());
            assertArrayEquals(d, b.read(3, 4096, 4096).data());
            byte[] file = Files.readAllBytes(img);
            assertArrayEquals(d, Arrays.copyOfRange(file, 4096, 8192));
        }
    }

    @Test
    void connectionsSpreadOverIOThreadsEachWithItsOwnQueue() throws Exception {
        try (NbdFixture f = new NbdFixture(MEM)) {
            NbdTestClient[] cs = new NbdTestClient[4];
            try {
                for (int i = 0; i < cs.length; i++) {
                    cs[i] = NbdTestClient.connect(f.tcp, "disk");
                    assertEquals(0, cs[i].write(i, (long) i * 4096, pattern(4096, i)).error());
                }
                assertEquals(List.of(1, 1, 1, 1), f.exports.get(0).queueUsers());
                for (int i = 0; i < cs.length; i++) {
                    assertArrayEquals(pattern(4096, (i + 1) % 4), cs[i].read(10, (long) ((i + 1) % 4) * 4096, 4096).data());
                }
            } finally {
                for (NbdTestClient c : cs) {
                    if (c != null) {
                        c.close();
                    }
                }
            }
            awaitConnections(f, 0);
            assertEquals(List.of(0, 0, 0, 0), f.exports.get(0).queueUsers());
        }
    }

    @Test
    void unixDomainSocketServesTheSameExport(@TempDir Path dir) throws Exception {
        Path sock = dir.resolve("nbd.sock");
        try (NbdFixture f = new NbdFixture(MEM)) {
            f.listenUnix(sock);
            try (NbdTestClient u = NbdTestClient.connect(UnixDomainSocketAddress.of(sock), "disk");
                 NbdTestClient t = NbdTestClient.connect(f.tcp, "disk")) {
                byte[] d = pattern(4096, 11);
                assertEquals(0, u.write(1, 0, d).error());
                assertArrayEquals(d, t.read(2, 0, 4096).data());
            }
        }
        assertFalse(Files.exists(sock), "the socket file is removed at close");
    }

    @Test
    void shutdownAnswersWhatIsInFlightAndClosesIdleClients() throws Exception {
        NbdFixture f = new NbdFixture(MEM);
        NbdTestClient c = NbdTestClient.connect(f.tcp, "disk");
        NbdTestClient idle = new NbdTestClient(f.tcp).greet();
        try {
            assertEquals(0, c.write(1, 0, pattern(4096, 12)).error());
            f.close();
            assertTrue(c.closedByServer());
            assertTrue(idle.closedByServer());
            assertEquals(0, f.server.connectionCount());
            assertNotEquals(0, f.server.acceptedCount());
        } finally {
            c.close();
            idle.close();
            f.close();
        }
    }

    /**
     * A writer keeps the connection full while the main loop drains the node again and again.
     * Every write is answered exactly once, without error, and the disk ends up holding, for each
     * block, the last write sent to it: at most {@link NbdConnection#MAX_SLOTS} requests of a
     * connection are in the server at once, so two writes to one block (4096 requests apart) never
     * overlap, and each carries its own pattern.
     */
    @RepeatedTest(5)
    void drainedSectionsStartNoRequestsFromClientsAndLoseNone() throws Exception {
        int n = 20_000;
        int blocks = 4096;
        assertTrue(NbdConnection.MAX_SLOTS < blocks, "writes to one block must not overlap");
        try (NbdFixture f = new NbdFixture(MEM); NbdTestClient c = NbdTestClient.connect(f.tcp, "disk")) {
            BlockDriverState node = f.backends.get(0).node();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            AtomicInteger answered = new AtomicInteger();
            BitSet handles = new BitSet(n); // the reader's; read after joining it
            Thread writer = new Thread(() -> {
                try {
                    for (int i = 0; i < n; i++) {
                        c.sendRequest(0, NbdProtocol.CMD_WRITE, i, (long) (i % blocks) * 4096, 4096, pattern(4096, i));
                    }
                    c.out.flush();
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }, "nbd-writer");
            Thread reader = new Thread(() -> {
                try {
                    for (int i = 0; i < n; i++) {
                        Reply r = c.readReply(0);
                        assertEquals(0, r.error(), "write " + r.handle());
                        assertTrue(r.handle() >= 0 && r.handle() < n, "a reply for handle " + r.handle() + ", never sent");
                        assertFalse(handles.get((int) r.handle()), "write " + r.handle() + " answered twice");
                        handles.set((int) r.handle());
                        answered.incrementAndGet();
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }, "nbd-reader");
            writer.setDaemon(true);
            reader.setDaemon(true);
            writer.start();
            reader.start();
            int drains = 0;
            while (answered.get() < n && failure.get() == null && drains < 200) {
                node.drainedBegin();
                try {
                    for (int k = 0; k < 3; k++) {
                        assertEquals(0, node.inFlight(), "a request started inside a drained section");
                        Thread.sleep(1);
                    }
                } finally {
                    node.drainedEnd();
                }
                drains++;
                Thread.sleep(1);
            }
            writer.join(30_000);
            reader.join(30_000);
            if (failure.get() != null) {
                throw new AssertionError("client failed", failure.get());
            }
            assertFalse(writer.isAlive() || reader.isAlive(), "still waiting after 30 s: " + answered.get() + " of "
                    + n + " writes answered (a lost reply)");
            assertEquals(n, answered.get());
            assertEquals(n, handles.cardinality(), "every write answered once");
            assertTrue(drains > 0);
            int batch = 64;
            for (int first = 0; first < blocks; first += batch) {
                for (int b = first; b < first + batch; b++) {
                    c.sendRequest(0, NbdProtocol.CMD_READ, 100_000 + b, (long) b * 4096, 4096, null);
                }
                c.out.flush();
                BitSet got = new BitSet(batch);
                for (int k = 0; k < batch; k++) {
                    Reply r = c.readReply(4096);
                    int b = (int) (r.handle() - 100_000);
                    assertTrue(r.error() == 0 && b >= first && b < first + batch && !got.get(b - first),
                            "read of block " + b + ": error " + r.error() + ", or not asked, or answered twice");
                    got.set(b - first);
                    int last = b + blocks * ((n - 1 - b) / blocks); // the last write sent to block b
                    assertArrayEquals(pattern(4096, last), r.data(), "block " + b + " lost acknowledged write " + last);
                }
            }
        }
    }

    private static void awaitConnections(NbdFixture f, int n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (f.server.connectionCount() != n && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertEquals(n, f.server.connectionCount(), "live connections");
    }

}
