package org.mqblock.block;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.mqblock.block.driver.FileDriver;
import org.mqblock.core.loop.IOThread;

/**
 * Any byte offset and length works on every driver: the block layer pads what the driver's
 * alignment refuses (reads through a bounce buffer, writes and write-zeroes as read-modify-writes
 * of the edge blocks), and a random mix of such requests reads back exactly like a byte array.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class UnalignedIoTest {

    private static final int SIZE = 1 << 20;
    static IOThread io;

    @TempDir
    Path dir;

    @BeforeAll
    static void start() {
        io = IOThread.start("unaligned", IOThread.UNPINNED);
    }

    @AfterAll
    static void stop() {
        io.close();
    }

    private BlockBackend open(String kind) {
        String options = switch (kind) {
            case "memory" -> "driver=memory,size=" + SIZE;
            case "file" -> "driver=file,filename=" + dir.resolve("raw.img") + ",size=" + SIZE;
            case "file-cache-none" -> "driver=file,cache=none,filename=" + dir.resolve("direct.img") + ",size=" + SIZE;
            case "latency" -> "driver=latency,size=" + SIZE + ",latency-us=5,dist=uniform,parallelism=4";
            case "thin" -> "driver=thin,filename=" + dir.resolve("thin.img") + ",size=" + SIZE + ",cluster-size=16k";
            default -> throw new IllegalArgumentException(kind);
        };
        return BlockBackend.open(kind, options, List.of(io.context()));
    }

    @ParameterizedTest
    @ValueSource(strings = {"memory", "file", "file-cache-none", "latency", "thin"})
    void unalignedRequestsReadBackLikeAByteArray(String kind) throws Exception {
        try (BlockBackend b = open(kind)) {
            BlockQueue q = b.queue(0);
            assertEquals(1, b.node().requestAlignment(), "the node takes any alignment");
            byte[] model = new byte[SIZE];
            SplittableRandom random = new SplittableRandom(kind.hashCode());
            for (int i = 0; i < 300; i++) {
                int len = random.nextInt(1, 5000);
                int off = random.nextInt(SIZE - len);
                switch (random.nextInt(3)) {
                    case 0 -> {
                        ByteBuffer data = TestIo.pattern(len, i);
                        assertEquals(BlockStatus.OK, TestIo.write(q, off, data), "write " + off + "+" + len);
                        data.get(0, model, off, len);
                    }
                    case 1 -> {
                        assertEquals(BlockStatus.OK, TestIo.writeZeroes(q, off, len), "write-zeroes " + off + "+" + len);
                        java.util.Arrays.fill(model, off, off + len, (byte) 0);
                    }
                    default -> {
                        // Heap memory at an odd index: unaligned in memory as well as on the device.
                        ByteBuffer into = ByteBuffer.allocate(len + 3).position(3).slice();
                        assertEquals(BlockStatus.OK, TestIo.read(q, off, into), "read " + off + "+" + len);
                        assertEquals(ByteBuffer.wrap(model, off, len), into, "read " + off + "+" + len);
                    }
                }
            }
            ByteBuffer all = ByteBuffer.allocateDirect(SIZE);
            assertEquals(BlockStatus.OK, TestIo.read(q, 0, all));
            assertEquals(ByteBuffer.wrap(model), all);
            assertEquals(0, q.stats().errors());
            assertEquals(0, b.node().tracker().size());
        }
    }

    @Test
    void unalignedDiscardLeavesThePartialBlocksAlone() throws Exception {
        try (BlockBackend b = open("memory")) {
            BlockQueue q = b.queue(0);
            ByteBuffer data = TestIo.pattern(8192, 9);
            assertEquals(BlockStatus.OK, TestIo.write(q, 0, data));
            assertEquals(BlockStatus.OK, TestIo.discard(q, 100, 2000)); // whole blocks [512, 2048) only
            assertEquals(BlockStatus.OK, TestIo.discard(q, 3000, 10)); // no whole block: nothing
            ByteBuffer back = ByteBuffer.allocateDirect(8192);
            assertEquals(BlockStatus.OK, TestIo.read(q, 0, back));
            assertEquals(data.slice(0, 512), back.slice(0, 512), "the partial head block keeps its data");
            assertEquals(data.slice(2048, 8192 - 2048), back.slice(2048, 8192 - 2048), "the partial tail block and beyond keep theirs");
            assertEquals(2, q.stats().discards());
        }
    }

    @Test
    void aFileWhoseSizeIsNotAlignedReadsAndWritesItsTailWithCacheNone() throws Exception {
        Path image = dir.resolve("odd.raw");
        FileDriver.create(image, 1_000_000);
        byte[] content = new byte[1_000_000];
        new SplittableRandom(3).nextBytes(content);
        Files.write(image, content);
        try (BlockBackend b = BlockBackend.open("odd", "driver=file,cache=none,filename=" + image, List.of(io.context()))) {
            BlockQueue q = b.queue(0);
            assertEquals(1_000_000, b.length());
            ByteBuffer tail = ByteBuffer.allocateDirect(576);
            assertEquals(BlockStatus.OK, TestIo.read(q, 1_000_000 - 576, tail), "the last 576 bytes");
            assertEquals(ByteBuffer.wrap(content, 1_000_000 - 576, 576), tail);
            ByteBuffer last = TestIo.pattern(100, 5);
            assertEquals(BlockStatus.OK, TestIo.write(q, 1_000_000 - 100, last));
            last.get(0, content, 1_000_000 - 100, 100);
            assertEquals(BlockStatus.EIO, TestIo.read(q, 1_000_000 - 10, ByteBuffer.allocateDirect(20)), "past the end");
        }
        assertEquals(1_000_000, Files.size(image), "the padded write did not grow the file");
        assertEquals(ByteBuffer.wrap(content), ByteBuffer.wrap(Files.readAllBytes(image)));
    }
}
