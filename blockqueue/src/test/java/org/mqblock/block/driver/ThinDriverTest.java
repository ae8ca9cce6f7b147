package org.mqblock.block.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
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

@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ThinDriverTest {

    static final int CLUSTER = 16 << 10;
    static IOThread io;

    @TempDir
    Path dir;

    @BeforeAll
    static void start() {
        io = IOThread.start("thin-test", IOThread.UNPINNED);
    }

    @AfterAll
    static void stop() {
        io.close();
    }

    private BlockBackend open(Path image) {
        return BlockBackend.open("thin", "driver=thin,filename=" + image, List.of(io.context()));
    }

    @Test
    void clustersAreAllocatedOnFirstWriteAndSurviveReopen() throws Exception {
        Path image = dir.resolve("disk.thin");
        ThinImage.create(image, 64 << 20, CLUSTER, null);
        long emptySize = Files.size(image);
        try (BlockBackend b = open(image)) {
            BlockQueue q = b.queue(0);
            assertEquals(BlockStatus.OK, TestIo.write(q, 0, TestIo.pattern(4096, 1)));
            assertEquals(BlockStatus.OK, TestIo.write(q, 4096, TestIo.pattern(4096, 2))); // same cluster
            assertEquals(BlockStatus.OK, TestIo.write(q, 40L << 20, TestIo.pattern(8192, 3))); // another L2 range
            assertEquals(BlockStatus.OK, TestIo.flush(q));
        }
        // header + L1 + 2 L2 tables + 2 data clusters
        assertEquals(emptySize + 4L * CLUSTER, Files.size(image), "allocation is thin: only touched clusters");
        ThinImage.CheckResult check = ThinImage.check(image);
        assertTrue(check.consistent(), check.errors().toString());
        assertEquals(2, check.allocatedClusters());
        assertEquals(0, check.leakedClusters());
        try (BlockBackend b = open(image)) {
            BlockQueue q = b.queue(0);
            assertEquals(64 << 20, b.length());
            assertRead(q, 0, TestIo.pattern(4096, 1));
            assertRead(q, 4096, TestIo.pattern(4096, 2));
            assertRead(q, 40L << 20, TestIo.pattern(8192, 3));
            assertRead(q, 8192, TestIo.zeros(8192));
        }
    }

    @Test
    void aWriteFromAnAllocatedClusterIntoAFreshOneLandsWhole() throws Exception {
        // A real guest's fio found it: the allocated part narrowed the buffer the fresh part was then copied from.
        Path image = dir.resolve("span.thin");
        ThinImage.create(image, 8 << 20, CLUSTER, null);
        try (BlockBackend b = open(image)) {
            assertEquals(BlockStatus.OK, TestIo.write(b.queue(0), 0, TestIo.pattern(CLUSTER, 1)));
            ByteBuffer span = TestIo.pattern(8192, 2);
            assertEquals(BlockStatus.OK, TestIo.write(b.queue(0), CLUSTER - 4096, span), "4 KiB allocated + 4 KiB fresh");
            assertRead(b.queue(0), CLUSTER - 4096, span);
            assertRead(b.queue(0), 0, TestIo.pattern(CLUSTER, 1).limit(CLUSTER - 4096));
        }
    }

    @Test
    void overlayReadsUnallocatedClustersFromItsBackingAndNeverWritesIt() throws Exception {
        Path base = dir.resolve("base.raw");
        FileDriver.create(base, 4 << 20);
        try (BlockBackend b = BlockBackend.open("base", "driver=file,filename=" + base, List.of(io.context()))) {
            assertEquals(BlockStatus.OK, TestIo.write(b.queue(0), 0, TestIo.pattern(1 << 20, 7)));
        }
        byte[] baseBefore = Files.readAllBytes(base);
        Path overlay = dir.resolve("top.thin");
        ThinImage.create(overlay, 4 << 20, CLUSTER, "base.raw"); // relative to the overlay's directory
        try (BlockBackend b = open(overlay)) {
            BlockQueue q = b.queue(0);
            assertRead(q, 0, TestIo.pattern(1 << 20, 7));
            // A partial write to an unallocated cluster copies the rest of the cluster from the backing.
            assertEquals(BlockStatus.OK, TestIo.write(q, 512, TestIo.pattern(512, 8)));
            ByteBuffer expected = TestIo.pattern(1 << 20, 7);
            expected.put(512, TestIo.pattern(512, 8), 0, 512);
            assertRead(q, 0, expected);
            // Zeroing a whole cluster hides the backing data; a partial zeroing writes zeros.
            assertEquals(BlockStatus.OK, TestIo.writeZeroes(q, CLUSTER, CLUSTER));
            assertEquals(BlockStatus.OK, TestIo.writeZeroes(q, 3 * CLUSTER + 1024, 2048));
            for (int i = CLUSTER; i < 2 * CLUSTER; i++) {
                expected.put(i, (byte) 0);
            }
            for (int i = 3 * CLUSTER + 1024; i < 3 * CLUSTER + 3072; i++) {
                expected.put(i, (byte) 0);
            }
            assertRead(q, 0, expected);
            assertEquals(BlockStatus.OK, TestIo.discard(q, 5 * CLUSTER, CLUSTER));
            assertRead(q, 5 * CLUSTER, TestIo.zeros(CLUSTER));
        }
        assertTrue(java.util.Arrays.equals(baseBefore, Files.readAllBytes(base)), "the backing image is read-only");
        ThinImage.CheckResult check = ThinImage.check(overlay);
        assertTrue(check.consistent(), check.errors().toString());
    }

    @Test
    void resizeGrowsAndShrinksTheVirtualDisk() throws Exception {
        Path image = dir.resolve("resize.thin");
        ThinImage.create(image, 1 << 20, 4096, null); // 4 KiB clusters: 2 MiB per L2 table
        try (BlockBackend b = open(image)) {
            BlockQueue q = b.queue(0);
            assertEquals(BlockStatus.OK, TestIo.write(q, 0, TestIo.pattern(4096, 1)));
            b.node().resize(64L << 30); // past the L1 capacity: the table moves
            assertEquals(64L << 30, b.length());
            assertEquals(BlockStatus.OK, TestIo.write(q, (64L << 30) - 4096, TestIo.pattern(4096, 2)));
            assertRead(q, 0, TestIo.pattern(4096, 1));
            b.node().resize(1 << 20);
            assertEquals(BlockStatus.EIO, TestIo.read(q, (64L << 30) - 4096, ByteBuffer.allocateDirect(4096)));
            assertRead(q, 0, TestIo.pattern(4096, 1));
            b.node().resize(2 << 20);
            assertRead(q, (1 << 20), TestIo.zeros(4096));
        }
        ThinImage.CheckResult check = ThinImage.check(image);
        assertTrue(check.consistent(), check.errors().toString());
        assertTrue(check.leakedClusters() > 0, "shrinking and moving the table leak space, reported as leaks");
        try (BlockBackend b = open(image)) {
            assertEquals(2 << 20, b.length());
            assertRead(b.queue(0), 0, TestIo.pattern(4096, 1));
        }
    }

    @Test
    void checkFindsCorruptedTables() throws Exception {
        Path image = dir.resolve("corrupt.thin");
        ThinImage.create(image, 8 << 20, CLUSTER, null);
        try (BlockBackend b = open(image)) {
            assertEquals(BlockStatus.OK, TestIo.write(b.queue(0), 0, TestIo.pattern(4096, 1)));
            assertEquals(BlockStatus.OK, TestIo.write(b.queue(0), CLUSTER, TestIo.pattern(4096, 2)));
        }
        assertTrue(ThinImage.check(image).consistent());
        // Point the second entry at the first entry's data cluster.
        try (FileChannel ch = FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer l1 = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(l1, CLUSTER); // the L1 table starts at cluster 1
            long l2 = l1.getLong(0);
            ByteBuffer e0 = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(e0, l2);
            ch.write(e0.flip(), l2 + 8);
        }
        ThinImage.CheckResult check = ThinImage.check(image);
        assertFalse(check.consistent());
        assertTrue(check.errors().get(0).contains("already in use"), check.errors().toString());
        assertEquals(1, check.leakedClusters(), "the cluster nothing points at any more");

        Files.write(dir.resolve("junk.thin"), new byte[8192]);
        assertFalse(ThinImage.check(dir.resolve("junk.thin")).consistent());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ThinImage.open(dir.resolve("junk.thin"), ImageAccess.WRITE));
        assertTrue(e.getMessage().contains("bad magic"), e.getMessage());
    }

    static void assertRead(BlockQueue q, long offset, ByteBuffer expected) throws Exception {
        ByteBuffer got = ByteBuffer.allocateDirect(expected.remaining());
        assertEquals(BlockStatus.OK, TestIo.read(q, offset, got));
        assertEquals(expected, got, "data at " + offset);
    }
}
