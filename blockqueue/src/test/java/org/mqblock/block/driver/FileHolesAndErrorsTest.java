package org.mqblock.block.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.mqblock.block.BlockBackend;
import org.mqblock.block.BlockDriverState;
import org.mqblock.block.BlockQueue;
import org.mqblock.block.BlockStatus;
import org.mqblock.block.TestIo;
import org.mqblock.core.loop.IOThread;
import org.mqblock.nativeio.NativeException;

/** Discard punches holes, block status finds them, and failures keep their errno. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class FileHolesAndErrorsTest {

    static IOThread io;

    @TempDir
    Path dir;

    @BeforeAll
    static void start() {
        io = IOThread.start("holes", IOThread.UNPINNED);
    }

    @AfterAll
    static void stop() {
        io.close();
    }

    @Test
    void discardPunchesAHoleThatReadsAsZerosAndBlockStatusReportsIt() throws Exception {
        Path image = dir.resolve("holes.raw");
        try (BlockBackend b = BlockBackend.open("h", "driver=file,filename=" + image + ",size=1M", List.of(io.context()))) {
            BlockQueue q = b.queue(0);
            BlockDriver d = b.node().driver();
            assertEquals(BlockDriver.STATUS_HOLE | BlockDriver.STATUS_ZERO, BlockDriver.statusFlags(d.blockStatus(0, 1 << 20)),
                    "a new sparse image is one hole");
            assertEquals(BlockStatus.OK, TestIo.write(q, 0, TestIo.pattern(256 << 10, 3)));
            assertEquals(BlockStatus.OK, TestIo.flush(q));
            long used = FileDriverTest.allocatedBytes(image);
            long first = d.blockStatus(0, 1 << 20);
            assertEquals(0, BlockDriver.statusFlags(first), "written: data");
            assertEquals(256 << 10, BlockDriver.statusLength(first), "the data ends where the writes did");

            assertEquals(BlockStatus.OK, TestIo.discard(q, 64 << 10, 64 << 10));
            ByteBuffer back = ByteBuffer.allocateDirect(64 << 10);
            assertEquals(BlockStatus.OK, TestIo.read(q, 64 << 10, back));
            assertEquals(TestIo.zeros(64 << 10), back, "a discarded range reads as zeros");
            assertEquals(1 << 20, Files.size(image), "the file keeps its size");
            long head = d.blockStatus(0, 1 << 20);
            assertEquals(0, BlockDriver.statusFlags(head));
            assertEquals(64 << 10, BlockDriver.statusLength(head));
            long hole = d.blockStatus(64 << 10, 1 << 20);
            assertEquals(BlockDriver.STATUS_HOLE | BlockDriver.STATUS_ZERO, BlockDriver.statusFlags(hole));
            assertEquals(64 << 10, BlockDriver.statusLength(hole));
            assertEquals(0, BlockDriver.statusFlags(d.blockStatus(128 << 10, 4096)), "data after the hole");
            assertEquals(4096, BlockDriver.statusLength(d.blockStatus(128 << 10, 4096)), "never longer than asked");
            long tail = d.blockStatus(256 << 10, 1 << 20);
            assertEquals((1 << 20) - (256 << 10), BlockDriver.statusLength(tail), "a hole up to the end");
            if (used > 0) {
                assertTrue(FileDriverTest.allocatedBytes(image) < used, "the hole gave space back");
            }
            TestIo.read(q, 0, back);
            assertEquals(TestIo.pattern(256 << 10, 3).slice(0, 64 << 10), back, "the data before the hole is intact");
        }
    }

    @Test
    void aFullFileSystemCompletesWritesWithEnospcAndLosesNothingElse() throws Exception {
        Path full = Path.of("/dev/full");
        Assumptions.assumeTrue(Files.isWritable(full), "/dev/full is needed: the kernel answers every write to it with ENOSPC");
        Path image = dir.resolve("meta.raw");
        org.mqblock.block.driver.FileDriver.create(image, 1 << 20);
        FileDriver d = FileDriver.openWithDataChannel(image,
                FileChannel.open(full, StandardOpenOption.READ, StandardOpenOption.WRITE), 1 << 20);
        BlockDriverState bs = BlockDriverState.create("full", d, List.of(io.context()));
        try {
            BlockQueue q = bs.queue(0);
            assertEquals(BlockStatus.ENOSPC, TestIo.write(q, 0, TestIo.pattern(4096, 1)), "the kernel's ENOSPC, not EIO");
            assertEquals(BlockStatus.ENOSPC, TestIo.write(q, 100, TestIo.pattern(10, 1)), "a padded write too");
            assertEquals(BlockStatus.OK, TestIo.read(q, 0, ByteBuffer.allocateDirect(4096)), "reads still work");
            assertEquals(2, q.stats().errors());
        } finally {
            try {
                bs.close();
            } catch (java.io.UncheckedIOException fsyncOfDevFull) {
                // fsync(2) of a character device fails (EINVAL); the node is closed all the same
            }
        }
    }

    @Test
    void errnosTheBlockLayerNamesKeepTheirName() {
        assertEquals(BlockStatus.ENOSPC, FileDriver.statusOf(new NativeException("fallocate", "fd 3", 28)));
        assertEquals(BlockStatus.ENOSPC, FileDriver.statusOf(new NativeException("fallocate", "fd 3", 122)), "EDQUOT");
        assertEquals(BlockStatus.EINVAL, FileDriver.statusOf(new NativeException("fallocate", "fd 3", 22)));
        assertEquals(BlockStatus.ENOTSUP, FileDriver.statusOf(new NativeException("fallocate", "fd 3", 95)));
        assertEquals(BlockStatus.EIO, FileDriver.statusOf(new NativeException("fallocate", "fd 3", 5)));
        assertEquals(BlockStatus.EIO, FileDriver.statusOf(new java.nio.channels.ClosedChannelException()));
    }
}
