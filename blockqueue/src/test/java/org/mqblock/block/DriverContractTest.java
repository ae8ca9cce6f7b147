package org.mqblock.block;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.mqblock.core.loop.IOThread;

/** What every data-keeping driver must do, through a queue on a real IOThread. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class DriverContractTest {

    static final long SIZE = 8 << 20;
    static IOThread io;

    @TempDir
    Path dir;

    @BeforeAll
    static void start() {
        io = IOThread.start("driver-test", IOThread.UNPINNED);
    }

    @AfterAll
    static void stop() {
        io.close();
    }

    private BlockBackend open(String kind) {
        String options = switch (kind) {
            case "memory" -> "driver=memory,size=" + SIZE;
            case "file" -> "driver=file,filename=" + dir.resolve("raw.img") + ",size=" + SIZE;
            case "latency" -> "driver=latency,size=" + SIZE + ",latency-us=5,dist=uniform,parallelism=4";
            case "thin" -> "driver=thin,filename=" + dir.resolve("thin.img") + ",size=" + SIZE + ",cluster-size=16k";
            default -> throw new IllegalArgumentException(kind);
        };
        return BlockBackend.open(kind, options, List.of(io.context()));
    }

    @ParameterizedTest
    @ValueSource(strings = {"memory", "file", "latency", "thin"})
    void writtenDataReadsBackIncludingAtTheEdges(String kind) throws Exception {
        try (BlockBackend b = open(kind)) {
            BlockQueue q = b.queue(0);
            assertEquals(SIZE, b.length());
            ByteBuffer first = TestIo.pattern(64 << 10, 1);
            ByteBuffer last = TestIo.pattern(4096, 2);
            assertEquals(BlockStatus.OK, TestIo.write(q, 0, first));
            assertEquals(BlockStatus.OK, TestIo.write(q, SIZE - 4096, last));
            ByteBuffer back = ByteBuffer.allocateDirect(64 << 10);
            assertEquals(BlockStatus.OK, TestIo.read(q, 0, back));
            assertEquals(first, back);
            ByteBuffer backLast = ByteBuffer.allocateDirect(4096);
            assertEquals(BlockStatus.OK, TestIo.read(q, SIZE - 4096, backLast));
            assertEquals(last, backLast);
            ByteBuffer never = ByteBuffer.allocateDirect(4096);
            never.put(0, (byte) 0x55);
            assertEquals(BlockStatus.OK, TestIo.read(q, 1 << 20, never));
            assertEquals(TestIo.zeros(4096), never, "never written reads as zeros");
            assertEquals(BlockStatus.OK, TestIo.flush(q));
            QueueStats s = q.stats();
            assertEquals(3, s.reads());
            assertEquals(2, s.writes());
            assertEquals(1, s.flushes());
            assertEquals(0, s.errors());
            assertEquals(6, s.latencyNs().getTotalCount());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"memory", "file", "latency", "thin"})
    void badRequestsGetAnErrorStatusAndWriteNothing(String kind) throws Exception {
        try (BlockBackend b = open(kind)) {
            BlockQueue q = b.queue(0);
            ByteBuffer tail = TestIo.pattern(512, 3);
            assertEquals(BlockStatus.OK, TestIo.write(q, SIZE - 512, tail));
            assertEquals(BlockStatus.EIO, TestIo.write(q, SIZE - 512, TestIo.pattern(1024, 4)), "crosses the end");
            assertEquals(BlockStatus.EIO, TestIo.write(q, SIZE, TestIo.pattern(512, 4)), "starts at the end");
            assertEquals(BlockStatus.EIO, TestIo.read(q, SIZE + (1L << 40), ByteBuffer.allocateDirect(512)), "far past the end");
            assertEquals(BlockStatus.EINVAL, TestIo.write(q, -512, TestIo.pattern(512, 4)), "negative offset");
            assertEquals(BlockStatus.EIO, TestIo.writeZeroes(q, SIZE - 512, 1024));
            ByteBuffer back = ByteBuffer.allocateDirect(512);
            assertEquals(BlockStatus.OK, TestIo.read(q, SIZE - 512, back));
            assertEquals(tail, back, "the refused requests changed nothing");
            ByteBuffer start = ByteBuffer.allocateDirect(512);
            assertEquals(BlockStatus.OK, TestIo.read(q, 0, start));
            assertEquals(TestIo.zeros(512), start);
            assertEquals(5, q.stats().errors()); // misaligned requests are no error: UnalignedIoTest
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"memory", "file", "latency", "thin"})
    void writeZeroesAndScatterGatherVectors(String kind) throws Exception {
        try (BlockBackend b = open(kind)) {
            BlockQueue q = b.queue(0);
            ByteBuffer data = TestIo.pattern(64 << 10, 5);
            assertEquals(BlockStatus.OK, TestIo.write(q, 0, data));
            assertEquals(BlockStatus.OK, TestIo.writeZeroes(q, 4096, 40960)); // covers whole and partial clusters
            ByteBuffer back = ByteBuffer.allocateDirect(64 << 10);
            assertEquals(BlockStatus.OK, TestIo.read(q, 0, back));
            ByteBuffer expected = TestIo.pattern(64 << 10, 5);
            for (int i = 4096; i < 4096 + 40960; i++) {
                expected.put(i, (byte) 0);
            }
            assertEquals(expected, back);

            // Three segments, two of them heap buffers, written and read back through vectors.
            ByteBuffer a = TestIo.pattern(1536, 6);
            ByteBuffer bb = ByteBuffer.wrap(new byte[512]);
            TestIo.pattern(512, 7).get(0, bb.array());
            ByteBuffer c = ByteBuffer.wrap(new byte[2048]);
            TestIo.pattern(2048, 8).get(0, c.array());
            IoVector out = new IoVector(3).add(a.duplicate()).add(bb.duplicate()).add(c.duplicate());
            assertEquals(BlockStatus.OK, TestIo.run(q, new BlockRequest().write(1 << 20, out, r -> {})));
            ByteBuffer x = ByteBuffer.allocate(1024);
            ByteBuffer y = ByteBuffer.allocateDirect(3072);
            IoVector in = new IoVector(2).add(x).add(y);
            assertEquals(BlockStatus.OK, TestIo.run(q, new BlockRequest().read(1 << 20, in, r -> {})));
            ByteBuffer joined = ByteBuffer.allocate(4096);
            joined.put(a.duplicate()).put(bb.duplicate()).put(c.duplicate()).flip();
            ByteBuffer got = ByteBuffer.allocate(4096);
            got.put(x.duplicate()).put(y.duplicate()).flip();
            assertEquals(joined, got);
            assertEquals(0, x.position(), "the block layer leaves segment positions where they were");
        }
    }

    @Test
    void nullDriverZeroFillsOrLeavesBuffersAndChecksRanges() throws Exception {
        for (String complete : List.of("inline", "bh")) {
            try (BlockBackend b = BlockBackend.open("null", "driver=null,size=1M,zero=on,complete=" + complete,
                    List.of(io.context()))) {
                BlockQueue q = b.queue(0);
                ByteBuffer buf = TestIo.pattern(4096, 9);
                assertEquals(BlockStatus.OK, TestIo.read(q, 0, buf));
                assertEquals(TestIo.zeros(4096), buf);
                assertEquals(BlockStatus.OK, TestIo.write(q, 0, TestIo.pattern(4096, 1)));
                assertEquals(BlockStatus.EIO, TestIo.read(q, 1 << 20, buf));
            }
        }
        try (BlockBackend b = BlockBackend.open("null", "driver=null,size=1M", List.of(io.context()))) {
            ByteBuffer buf = TestIo.pattern(4096, 9);
            assertEquals(BlockStatus.OK, TestIo.read(b.queue(0), 0, buf));
            assertEquals(TestIo.pattern(4096, 9), buf, "without zero=on the data is left alone");
        }
    }

    @Test
    void injectedDriverErrorsComeBackAsEio() throws Exception {
        try (BlockBackend b = BlockBackend.open("faulty", "driver=latency,size=1M,latency-us=1,error-rate=1",
                List.of(io.context()))) {
            for (int i = 0; i < 10; i++) {
                assertEquals(BlockStatus.EIO, TestIo.read(b.queue(0), 0, ByteBuffer.allocateDirect(4096)));
            }
            assertEquals(10, b.queue(0).stats().errors());
        }
    }

    @Test
    void badOptionsAreRefusedNamingTheKey() {
        BlockOptionsTest.assertMessage(() -> BlockBackend.open("x", "driver=floppy", List.of(io.context())),
                "'driver'", "floppy", "latency");
        BlockOptionsTest.assertMessage(() -> BlockBackend.open("x", "driver=memory,size=1G,sise=2G", List.of(io.context())),
                "[sise]", "accepted: [driver, queues, size]");
        BlockOptionsTest.assertMessage(() -> BlockBackend.open("x", "driver=file", List.of(io.context())),
                "missing option 'filename'");
        BlockOptionsTest.assertMessage(() -> BlockBackend.open("x", "driver=latency,dist=normal", List.of(io.context())),
                "'dist'", "[fixed, exp, uniform]");
        BlockOptionsTest.assertMessage(() -> BlockBackend.open("x", "driver=memory,queues=0", List.of(io.context())),
                "'queues'");
        java.io.UncheckedIOException e = org.junit.jupiter.api.Assertions.assertThrows(java.io.UncheckedIOException.class,
                () -> BlockBackend.open("x", "driver=file,filename=" + dir.resolve("missing.img"), List.of(io.context())));
        assertTrue(e.getMessage().contains("missing.img"), e.getMessage());
        assertTrue(Files.notExists(dir.resolve("missing.img")), "a bad open creates nothing");
    }
}
