package org.mqblock.block.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.mqblock.block.BlockBackend;
import org.mqblock.block.BlockQueue;
import org.mqblock.block.BlockRequest;
import org.mqblock.block.IoVector;
import org.mqblock.block.BlockStatus;
import org.mqblock.block.TestIo;
import org.mqblock.core.loop.IOThread;

@Timeout(value = 120, unit = TimeUnit.SECONDS)
class FileDriverTest {

    static IOThread io;

    @TempDir
    Path dir;

    @BeforeAll
    static void start() {
        io = IOThread.start("file-test", IOThread.UNPINNED);
    }

    @AfterAll
    static void stop() {
        io.close();
    }

    @Test
    void dataReadsBackAfterReopenAndLandsInTheFileAtItsOffset() throws Exception {
        Path image = dir.resolve("disk.raw");
        try (BlockBackend b = BlockBackend.open("f", "driver=file,filename=" + image + ",size=4M", List.of(io.context()))) {
            assertEquals(BlockStatus.OK, TestIo.write(b.queue(0), 1 << 20, TestIo.pattern(8192, 1)));
            assertEquals(BlockStatus.OK, TestIo.flush(b.queue(0)));
        }
        assertEquals(4 << 20, Files.size(image));
        byte[] raw = Files.readAllBytes(image);
        ByteBuffer expected = TestIo.pattern(8192, 1);
        assertEquals(expected, ByteBuffer.wrap(raw, 1 << 20, 8192), "a raw image holds the bytes at their offset");
        try (BlockBackend b = BlockBackend.open("f", "driver=file,filename=" + image, List.of(io.context()))) {
            ThinDriverTest.assertRead(b.queue(0), 1 << 20, TestIo.pattern(8192, 1));
        }
    }

    /** A vector of {@code parts} shared segments of {@code each} bytes, scattered in one buffer (guest RAM). */
    private static IoVector scattered(ByteBuffer ram, int parts, int each) {
        IoVector v = new IoVector(parts);
        for (int i = 0; i < parts; i++) {
            v.addShared(ram, i * 2 * each, each);
        }
        return v;
    }

    @Test
    void scatteredRequestsGoThroughTheBounceBufferWhateverSizeCameBefore() throws Exception {
        // A real guest's writes: many segments of varying total size, one after another on a queue.
        Path image = dir.resolve("scatter.raw");
        try (BlockBackend b = BlockBackend.open("s", "driver=file,filename=" + image + ",size=4M", List.of(io.context()))) {
            ByteBuffer ram = TestIo.pattern(256 << 10, 3);
            for (int[] shape : new int[][] {{7, 8192}, {2, 512}, {3, 4096}, {2, 1024}}) { // larger after smaller, one buffer
                IoVector w = scattered(ram, shape[0], shape[1]);
                assertEquals(BlockStatus.OK, TestIo.run(b.queue(0), new BlockRequest().write(1 << 20, w, x -> {})),
                        shape[0] + " x " + shape[1] + " bytes");
                ByteBuffer back = ByteBuffer.allocateDirect(256 << 10);
                IoVector r = scattered(back, shape[0], shape[1]);
                assertEquals(BlockStatus.OK, TestIo.run(b.queue(0), new BlockRequest().read(1 << 20, r, x -> {})));
                for (int i = 0; i < shape[0]; i++) {
                    assertEquals(ram.slice(i * 2 * shape[1], shape[1]), back.slice(i * 2 * shape[1], shape[1]),
                            "segment " + i + " of " + shape[0] + " x " + shape[1]);
                }
            }
        }
    }

    @Test
    void cacheNoneUsesODirectWithBounceBuffersForUnalignedMemory() throws Exception {
        Path image = dir.resolve("direct.raw");
        FileDriver.create(image, 4 << 20);
        BlockBackend b;
        try {
            b = BlockBackend.open("d", "driver=file,cache=none,filename=" + image, List.of(io.context()));
        } catch (java.io.UncheckedIOException e) {
            Assumptions.abort("O_DIRECT not supported here: " + e.getMessage());
            return;
        }
        try (b) {
            BlockQueue q = b.queue(0);
            int align = b.node().capabilities().requestAlignment();
            assertTrue(align >= 512);
            // Heap memory is never aligned for O_DIRECT: it must go through the bounce buffer.
            ByteBuffer heap = ByteBuffer.allocate(align * 2);
            TestIo.pattern(align * 2, 4).get(0, heap.array());
            assertEquals(BlockStatus.OK, TestIo.write(q, align, heap));
            ByteBuffer aligned = ByteBuffer.allocateDirect(align * 3).alignedSlice(align);
            aligned.limit(align * 2);
            assertEquals(BlockStatus.OK, TestIo.read(q, align, aligned));
            assertEquals(TestIo.pattern(align * 2, 4), aligned);
            // O_DIRECT needs offsets aligned to the file system block: the block layer pads this one.
            int odd = 512 == align ? 256 : 512;
            assertEquals(BlockStatus.OK, TestIo.write(q, odd, TestIo.pattern(align, 5)));
            ByteBuffer back = ByteBuffer.allocateDirect(align);
            assertEquals(BlockStatus.OK, TestIo.read(q, odd, back));
            assertEquals(TestIo.pattern(align, 5), back);
        }
    }

    @Test
    void resizeExtendsSparselyAndTruncates() throws Exception {
        Path image = dir.resolve("grow.raw");
        try (BlockBackend b = BlockBackend.open("g", "driver=file,filename=" + image + ",size=1M", List.of(io.context()))) {
            assertEquals(BlockStatus.OK, TestIo.write(b.queue(0), 0, TestIo.pattern(4096, 2)));
            b.node().resize(1L << 30);
            assertEquals(1L << 30, Files.size(image));
            long used = allocatedBytes(image);
            assertTrue(used < (1 << 24), "growing allocates no space, but " + used + " bytes are allocated");
            assertEquals(BlockStatus.OK, TestIo.write(b.queue(0), (1L << 30) - 4096, TestIo.pattern(4096, 3)));
            b.node().resize(8192);
            assertEquals(8192, Files.size(image));
            assertEquals(BlockStatus.EIO, TestIo.read(b.queue(0), 8192, ByteBuffer.allocateDirect(4096)));
            ThinDriverTest.assertRead(b.queue(0), 0, TestIo.pattern(4096, 2));
        }
    }

    /** Bytes the file system allocated for {@code p} ({@code stat %b}), or 0 if stat is unavailable. */
    static long allocatedBytes(Path p) throws Exception {
        Process stat = new ProcessBuilder("stat", "--format=%b %B", p.toString()).redirectErrorStream(true).start();
        String[] out = new String(stat.getInputStream().readAllBytes()).trim().split(" ");
        if (stat.waitFor() != 0 || out.length != 2) {
            return 0;
        }
        return Long.parseLong(out[0]) * Long.parseLong(out[1]);
    }

    @Test
    void anIoErrorInTheDriverCompletesWithEio() throws Exception {
        Path image = dir.resolve("vanishing.raw");
        FileDriver.create(image, 1 << 20);
        try (BlockBackend b = BlockBackend.open("v", "driver=file,filename=" + image, List.of(io.context()))) {
            b.node().driver().close(); // the file is gone from under the node: every I/O fails
            assertEquals(BlockStatus.EIO, TestIo.read(b.queue(0), 0, ByteBuffer.allocateDirect(4096)));
            assertEquals(BlockStatus.EIO, TestIo.write(b.queue(0), 0, TestIo.pattern(4096, 1)));
            assertEquals(BlockStatus.EIO, TestIo.flush(b.queue(0)));
            assertEquals(3, b.queue(0).stats().errors());
        } catch (RuntimeException closing) {
            if (!(closing.getCause() instanceof IOException)) {
                throw closing;
            }
        }
    }
}
