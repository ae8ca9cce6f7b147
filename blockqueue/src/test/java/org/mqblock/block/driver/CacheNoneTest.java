package org.mqblock.block.driver;

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
import org.mqblock.block.BlockBackend;
import org.mqblock.block.BlockQueue;
import org.mqblock.block.BlockStatus;
import org.mqblock.block.TestIo;
import org.mqblock.core.loop.IOThread;

/**
 * {@code cache=none} (O_DIRECT) files in the places where alignment is easy to miss: an overlay
 * reading its backing image into cluster buffers of its own, and the unaligned end of a file.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class CacheNoneTest {

    static IOThread io;

    @TempDir
    Path tmp;

    @BeforeAll
    static void start() {
        io = IOThread.start("cache-none", IOThread.UNPINNED);
    }

    @AfterAll
    static void stop() {
        io.close();
    }

    private static byte[] random(int n, int seed) {
        byte[] b = new byte[n];
        new SplittableRandom(seed).nextBytes(b);
        return b;
    }

    @Test
    void aSnapshotOverACacheNoneFileReadsUnallocatedClustersAndFillsPartialWritesFromIt() throws Exception {
        Path dir = DirectIoDir.find(tmp);
        Path base = dir.resolve("base.raw");
        byte[] content = random(4 << 20, 1);
        Files.write(base, content);
        try (BlockBackend b = BlockBackend.open("snap", "driver=file,cache=none,filename=" + base, List.of(io.context()))) {
            b.node().snapshot(dir.resolve("overlay.thin"), 64 << 10);
            BlockQueue q = b.queue(0);
            ByteBuffer cluster = ByteBuffer.allocateDirect(64 << 10);
            assertEquals(BlockStatus.OK, TestIo.read(q, 128 << 10, cluster), "an unallocated cluster reads the backing");
            assertEquals(ByteBuffer.wrap(content, 128 << 10, 64 << 10), cluster);

            ByteBuffer small = TestIo.pattern(4096, 7);
            assertEquals(BlockStatus.OK, TestIo.write(q, (256 << 10) + 4096, small), "a partial-cluster write needs backing data");
            small.get(0, content, (256 << 10) + 4096, 4096);
            ByteBuffer back = ByteBuffer.allocateDirect(64 << 10);
            assertEquals(BlockStatus.OK, TestIo.read(q, 256 << 10, back));
            assertEquals(ByteBuffer.wrap(content, 256 << 10, 64 << 10), back, "the new 4k inside the backing cluster");
        } finally {
            Files.deleteIfExists(dir.resolve("overlay.thin"));
            Files.deleteIfExists(base);
        }
    }

    @Test
    void blockingReadsTakeAnyOffsetLengthAndMemoryAndReadZerosPastTheEnd() throws Exception {
        Path dir = DirectIoDir.find(tmp);
        Path file = dir.resolve("odd.raw");
        byte[] content = random(1_000_000, 2);
        Files.write(file, content);
        try (FileDriver d = FileDriver.open(file, true)) {
            ByteBuffer heap = ByteBuffer.allocate(3000);
            d.readBlocking(12345, heap.position(7).slice()); // unaligned offset, length and memory
            assertEquals(ByteBuffer.wrap(content, 12345, 2993), heap.position(7).slice());
            ByteBuffer tail = ByteBuffer.allocateDirect(1024);
            d.readBlocking(1_000_000 - 576, tail);
            assertEquals(ByteBuffer.wrap(content, 1_000_000 - 576, 576), tail.slice(0, 576), "the last 576 bytes");
            assertEquals(ByteBuffer.allocate(448), tail.slice(576, 448), "past the end: zeros");
        } finally {
            Files.deleteIfExists(file);
        }
        Path large = dir.resolve("large.raw");
        byte[] more = random(4 << 20, 3);
        Files.write(large, more);
        try (FileDriver d = FileDriver.open(large, true)) {
            ByteBuffer big = ByteBuffer.allocate(3 << 20); // longer than one bounce chunk
            d.readBlocking(100, big);
            assertEquals(ByteBuffer.wrap(more, 100, 3 << 20), big.clear());
        } finally {
            Files.deleteIfExists(large);
        }
    }
}
