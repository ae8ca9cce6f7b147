package org.mqblock.block.driver;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
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

/** The findings of issue 17 on thin images, each as the property it restores, and the image tools. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ThinImageTest {

    static final int K64 = 64 << 10;
    static IOThread io;

    @TempDir
    Path dir;

    @BeforeAll
    static void start() {
        io = IOThread.start("thin-image-test", IOThread.UNPINNED);
    }

    @AfterAll
    static void stop() {
        io.close();
    }

    private BlockDriverState node(BlockDriver d) {
        return BlockDriverState.create("n", d, List.of(io.context()));
    }

    private static void assertRead(BlockQueue q, long offset, ByteBuffer expected) throws Exception {
        ThinDriverTest.assertRead(q, offset, expected);
    }

    private Path rawBase(long size, int seed) throws IOException {
        Path base = dir.resolve("base.raw");
        ByteBuffer b = TestIo.pattern((int) size, seed);
        byte[] a = new byte[(int) size];
        b.get(a);
        Files.write(base, a);
        return base;
    }

    // ---------------------------------------------------------------------------------------
    // Writes across clusters

    @Test
    void aWriteFromAnAllocatedClusterIntoUnallocatedOnesLandsWhole() throws Exception {
        Path image = dir.resolve("span.thin");
        ThinImage.create(image, 8 << 20, K64, null);
        BlockDriverState bs = node(ThinImage.open(image, ImageAccess.WRITE));
        try {
            BlockQueue q = bs.queue(0);
            assertEquals(BlockStatus.OK, TestIo.write(q, 0, TestIo.pattern(4096, 1)));
            assertEquals(BlockStatus.OK, TestIo.write(q, 0, TestIo.pattern(128 << 10, 2)), "4k at 0, then 128k at 0");
            assertRead(q, 0, TestIo.pattern(128 << 10, 2));
        } finally {
            bs.close();
        }
    }

    // ---------------------------------------------------------------------------------------
    // Backing names, read-only backing images

    @Test
    void aSnapshotNamesItsBackingSoThatItResolvesFromTheOverlay() throws Exception {
        Path base = rawBase(1 << 20, 3);
        Path relative = Path.of("").toAbsolutePath().relativize(base.toAbsolutePath()); // as a user would type it
        Path snaps = Files.createDirectories(dir.resolve("a/b/c/d/snaps")); // deeper than the working directory
        Path overlay = snaps.resolve("top.thin");
        try (BlockBackend b = BlockBackend.open("d", "driver=file,filename=" + relative, List.of(io.context()))) {
            b.node().snapshot(overlay, K64);
            assertEquals(BlockStatus.OK, TestIo.write(b.queue(0), 0, TestIo.pattern(4096, 4)));
        }
        String stored = ThinImage.info(overlay, ImageAccess.READ).backingFile();
        assertEquals(base.toAbsolutePath(), ThinImage.resolveBacking(overlay, stored).toAbsolutePath().normalize(), stored);
        BlockDriverState bs = node(ThinImage.open(overlay, ImageAccess.WRITE));
        try {
            ByteBuffer expected = TestIo.pattern(1 << 20, 3);
            expected.put(0, TestIo.pattern(4096, 4), 0, 4096);
            assertRead(bs.queue(0), 0, expected);
        } finally {
            bs.close();
        }
    }

    @Test
    void aBackingOptionIsRelativeToTheNewImage() throws Exception {
        rawBase(1 << 20, 5);
        Files.createDirectories(dir.resolve("sub"));
        Files.copy(dir.resolve("base.raw"), dir.resolve("sub/base.raw"));
        Files.write(dir.resolve("base.raw"), new byte[4096]); // a decoy where a cwd-relative reading would look
        Path top = dir.resolve("sub/top.thin");
        try (BlockBackend b = BlockBackend.open("d", "driver=thin,filename=" + top + ",backing=base.raw", List.of(io.context()))) {
            assertEquals(1 << 20, b.length(), "size taken from sub/base.raw");
            assertRead(b.queue(0), 0, TestIo.pattern(1 << 20, 5));
        }
    }

    @Test
    void anOverlayOverAReadOnlyBaseWorks() throws Exception {
        Path base = rawBase(1 << 20, 6);
        Path mid = dir.resolve("mid.thin");
        ThinImage.create(mid, 1 << 20, K64, "base.raw");
        BlockDriverState m = node(ThinImage.open(mid, ImageAccess.WRITE));
        assertEquals(BlockStatus.OK, TestIo.write(m.queue(0), K64, TestIo.pattern(4096, 7)));
        m.close();
        Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("r--r--r--"));
        Files.setPosixFilePermissions(mid, PosixFilePermissions.fromString("r--r--r--"));
        Path top = dir.resolve("top.thin");
        ThinImage.create(top, 1 << 20, K64, "mid.thin");
        BlockDriverState bs = node(ThinImage.open(top, ImageAccess.WRITE));
        try {
            assertEquals(BlockStatus.OK, TestIo.write(bs.queue(0), 0, TestIo.pattern(512, 8)));
            ByteBuffer expected = TestIo.pattern(1 << 20, 6);
            expected.put(K64, TestIo.pattern(4096, 7), 0, 4096);
            expected.put(0, TestIo.pattern(512, 8), 0, 512);
            assertRead(bs.queue(0), 0, expected);
            ThinDriver d = (ThinDriver) bs.driver();
            assertFalse(((ThinDriver) d.backing()).writable(), "backing images open read-only");
        } finally {
            bs.close();
        }
    }

    // ---------------------------------------------------------------------------------------
    // Resize

    @Test
    void aRangeRegrownAfterAShrinkReadsZeros() throws Exception {
        rawBase(4 << 20, 9);
        Path overlay = dir.resolve("top.thin");
        ThinImage.create(overlay, 4 << 20, K64, "base.raw");
        BlockDriverState bs = node(ThinImage.open(overlay, ImageAccess.WRITE));
        try {
            BlockQueue q = bs.queue(0);
            long cut = (1 << 20) + 4096; // inside a cluster: its tail must not come back either
            assertEquals(BlockStatus.OK, TestIo.write(q, 1 << 20, TestIo.pattern(K64, 10)));
            bs.resize(cut);
            bs.resize(4 << 20);
            ByteBuffer expected = TestIo.pattern(4 << 20, 9);
            expected.put(1 << 20, TestIo.pattern(4096, 10), 0, 4096);
            for (int i = (int) cut; i < 4 << 20; i++) {
                expected.put(i, (byte) 0);
            }
            assertRead(q, 0, expected);
            bs.close();
            bs = node(ThinImage.open(overlay, ImageAccess.WRITE));
            assertRead(bs.queue(0), 0, expected);
        } finally {
            bs.close();
        }
        assertTrue(ThinImage.check(overlay).consistent(), ThinImage.check(overlay).errors().toString());
    }

    // ---------------------------------------------------------------------------------------
    // Locking

    @Test
    void aSecondWriterIsRefusedNamingTheImageAndReadersAsQemuDoes() throws Exception {
        Path image = dir.resolve("locked.thin");
        ThinImage.create(image, 1 << 20, K64, null);
        ThinDriver writer = ThinImage.open(image, ImageAccess.WRITE);
        try {
            IOException e = assertThrows(IOException.class, () -> ThinImage.open(image, ImageAccess.WRITE));
            assertTrue(e.getMessage().contains(image.toString()) && e.getMessage().contains("\"write\" lock"), e.getMessage());
            e = assertThrows(IOException.class, () -> ThinImage.open(image, ImageAccess.READ));
            assertTrue(e.getMessage().contains("shared \"write\" lock"), e.getMessage());
            assertThrows(IOException.class, () -> ThinImage.check(image));
            assertTrue(ThinImage.check(image, ThinImage.Repair.NONE, true).completed(), "check -U");
            ThinImage.open(image, ImageAccess.READ_SHARED).close(); // -U
        } finally {
            writer.close();
        }
        ThinDriver r1 = ThinImage.open(image, ImageAccess.READ);
        ThinDriver r2 = ThinImage.open(image, ImageAccess.READ);
        try {
            IOException e = assertThrows(IOException.class, () -> ThinImage.open(image, ImageAccess.WRITE));
            assertTrue(e.getMessage().contains(image.toString()), e.getMessage());
        } finally {
            r1.close();
            r2.close();
        }
        ThinImage.open(image, ImageAccess.WRITE).close(); // the locks went with the closes
    }

    @Test
    void qemuSeesTheLockOnABackingFile() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/qemu-io")), "qemu-io not installed");
        Path base = rawBase(1 << 20, 11);
        Path top = dir.resolve("top.thin");
        ThinImage.create(top, 1 << 20, K64, "base.raw");
        try (ThinDriver d = ThinImage.open(top, ImageAccess.WRITE)) {
            Process p = new ProcessBuilder("qemu-io", "-f", "raw", "-c", "write 0 4k", base.toString())
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            assertTrue(out.contains("Failed to get \"write\" lock"), out);
        }
        byte[] before = Files.readAllBytes(base);
        Process p = new ProcessBuilder("qemu-io", "-f", "raw", "-c", "read 0 4k", base.toString()).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), "unlocked once the overlay closed");
        assertArrayEquals(before, Files.readAllBytes(base));
    }

    // ---------------------------------------------------------------------------------------
    // Metadata overlap, corrupt flag, check and repair

    /** Points virtual cluster {@code vc}'s L2 entry (in the first L2 table) at {@code host}. */
    private static void pointEntry(Path image, int vc, long host) throws IOException {
        try (FileChannel ch = FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer l1 = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(l1, K64);
            long l2 = l1.getLong(0);
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, host), l2 + vc * 8L);
        }
    }

    @Test
    void aWriteOntoMetadataIsRefusedAndMarksTheImageCorruptUntilRepaired() throws Exception {
        Path image = dir.resolve("overlap.thin");
        ThinImage.create(image, 8 << 20, K64, null);
        BlockDriverState bs = node(ThinImage.open(image, ImageAccess.WRITE));
        assertEquals(BlockStatus.OK, TestIo.write(bs.queue(0), 0, TestIo.pattern(4096, 1)));
        assertEquals(BlockStatus.OK, TestIo.write(bs.queue(0), K64, TestIo.pattern(4096, 2)));
        bs.close();
        byte[] l1Before = java.util.Arrays.copyOfRange(Files.readAllBytes(image), K64, 2 * K64);
        pointEntry(image, 1, K64); // virtual cluster 1 -> the L1 table

        bs = node(ThinImage.open(image, ImageAccess.WRITE));
        try {
            assertEquals(BlockStatus.EIO, TestIo.write(bs.queue(0), K64, TestIo.pattern(4096, 3)));
            assertEquals(BlockStatus.EIO, TestIo.write(bs.queue(0), 0, TestIo.pattern(4096, 4)), "no writes once corrupt");
            assertRead(bs.queue(0), 0, TestIo.pattern(4096, 1));
        } finally {
            bs.close();
        }
        assertArrayEquals(l1Before, java.util.Arrays.copyOfRange(Files.readAllBytes(image), K64, 2 * K64), "L1 untouched");
        assertTrue(ThinImage.info(image, ImageAccess.READ).corrupt());
        IOException e = assertThrows(IOException.class, () -> ThinImage.open(image, ImageAccess.WRITE));
        assertTrue(e.getMessage().contains("corrupt"), e.getMessage());
        ThinImage.open(image, ImageAccess.READ).close();

        ThinImage.CheckResult found = ThinImage.check(image);
        assertFalse(found.consistent());
        assertTrue(found.errors().toString().contains("points at metadata"), found.errors().toString());
        ThinImage.CheckResult repaired = ThinImage.check(image, ThinImage.Repair.ALL);
        assertEquals(repaired.errors().size(), repaired.repairedErrors(), repaired.toString());
        assertTrue(ThinImage.check(image).consistent(), ThinImage.check(image).errors().toString());
        bs = node(ThinImage.open(image, ImageAccess.WRITE));
        try {
            assertRead(bs.queue(0), 0, TestIo.pattern(4096, 1));
            assertRead(bs.queue(0), K64, TestIo.zeros(4096));
            assertEquals(BlockStatus.OK, TestIo.write(bs.queue(0), K64, TestIo.pattern(4096, 5)));
            assertRead(bs.queue(0), K64, TestIo.pattern(4096, 5));
        } finally {
            bs.close();
        }
    }

    @Test
    void checkReportsACorruptHeaderInsteadOfCrashing() throws Exception {
        Path image = dir.resolve("hdr.thin");
        ThinImage.create(image, 8 << 20, K64, null);
        int[][] fields = {{ThinFormat.L1_CAPACITY_OFFSET, Integer.MAX_VALUE}, {ThinFormat.L1_CAPACITY_OFFSET, -1},
                {ThinFormat.L1_ENTRIES_OFFSET, Integer.MAX_VALUE}, {ThinFormat.CLUSTER_BITS_OFFSET, 40},
                {ThinFormat.BACKING_LENGTH_OFFSET, Integer.MAX_VALUE}, {ThinFormat.FLAGS_OFFSET, 0x80}};
        byte[] good = Files.readAllBytes(image);
        for (int[] f : fields) {
            byte[] bad = good.clone();
            ByteBuffer.wrap(bad).order(ByteOrder.LITTLE_ENDIAN).putInt(f[0], f[1]);
            Files.write(image, bad);
            ThinImage.CheckResult r = ThinImage.check(image);
            assertFalse(r.consistent(), "field at " + f[0]);
            assertFalse(r.errors().isEmpty());
            Exception e = assertThrows(Exception.class, () -> ThinImage.open(image, ImageAccess.READ).close());
            assertTrue(e instanceof IOException || e instanceof IllegalArgumentException, e.toString());
        }
        // A capacity that overruns the file, with entries that fit: repair cuts it back.
        byte[] bad = good.clone();
        ByteBuffer.wrap(bad).order(ByteOrder.LITTLE_ENDIAN).putInt(ThinFormat.L1_CAPACITY_OFFSET, 1 << 28);
        Files.write(image, bad);
        assertFalse(ThinImage.check(image).consistent());
        ThinImage.check(image, ThinImage.Repair.ALL);
        assertTrue(ThinImage.check(image).consistent(), ThinImage.check(image).errors().toString());
    }

    @Test
    void checkNeverThrowsOnRandomlyDamagedMetadata() throws Exception {
        Path image = dir.resolve("fuzz.thin");
        ThinImage.create(image, 8 << 20, 4096, null);
        BlockDriverState bs = node(ThinImage.open(image, ImageAccess.WRITE));
        for (int i = 0; i < 8; i++) {
            assertEquals(BlockStatus.OK, TestIo.write(bs.queue(0), i * (1 << 20) + 4096L * i, TestIo.pattern(8192, i)));
        }
        bs.close();
        byte[] good = Files.readAllBytes(image);
        java.util.Random rnd = new java.util.Random(17);
        for (int round = 0; round < 300; round++) {
            byte[] bad = good.clone();
            int hits = 1 + rnd.nextInt(4);
            for (int h = 0; h < hits; h++) {
                int at = rnd.nextBoolean() ? rnd.nextInt(64) : rnd.nextInt(Math.min(bad.length, 5 * 4096)); // header or tables
                bad[at] = (byte) rnd.nextInt(256);
            }
            Files.write(image, bad);
            ThinImage.check(image); // reports, never throws
            ThinImage.check(image, ThinImage.Repair.ALL);
            try {
                ThinImage.open(image, ImageAccess.READ_SHARED).close();
            } catch (IOException | IllegalArgumentException expected) {
                // refused with a message: fine
            }
        }
    }

    @Test
    void repairLeaksGivesBackTheSpaceAtTheEnd() throws Exception {
        Path image = dir.resolve("leaks.thin");
        ThinImage.create(image, 8 << 20, K64, null);
        BlockDriverState bs = node(ThinImage.open(image, ImageAccess.WRITE));
        assertEquals(BlockStatus.OK, TestIo.write(bs.queue(0), 0, TestIo.pattern(4096, 1)));
        assertEquals(BlockStatus.OK, TestIo.write(bs.queue(0), 4 << 20, TestIo.pattern(4096, 2)));
        bs.resize(2 << 20); // the cluster at 4 MiB is no longer mapped
        bs.close();
        ThinImage.CheckResult before = ThinImage.check(image);
        assertTrue(before.consistent());
        assertEquals(1, before.leakedClusters());
        long size = Files.size(image);
        ThinImage.CheckResult r = ThinImage.check(image, ThinImage.Repair.LEAKS);
        assertEquals(1, r.repairedLeaks());
        assertEquals(0, r.leakedClusters());
        assertEquals(size - K64, Files.size(image));
        bs = node(ThinImage.open(image, ImageAccess.WRITE));
        try {
            assertRead(bs.queue(0), 0, TestIo.pattern(4096, 1));
        } finally {
            bs.close();
        }
    }

    @Test
    void aDiscardedClusterIsReusedAfterReopen() throws Exception {
        Path image = dir.resolve("discard.thin");
        ThinImage.create(image, 8 << 20, K64, null);
        BlockDriverState bs = node(ThinImage.open(image, ImageAccess.WRITE));
        assertEquals(BlockStatus.OK, TestIo.write(bs.queue(0), 0, TestIo.pattern(K64, 1)));
        assertEquals(BlockStatus.OK, TestIo.write(bs.queue(0), K64, TestIo.pattern(K64, 2)));
        assertEquals(BlockStatus.OK, TestIo.discard(bs.queue(0), 0, K64));
        assertRead(bs.queue(0), 0, TestIo.zeros(K64));
        bs.close();
        long size = Files.size(image);
        assertEquals(1, ThinImage.check(image).leakedClusters(), "the discarded cluster is unused");
        bs = node(ThinImage.open(image, ImageAccess.WRITE));
        try {
            assertEquals(BlockStatus.OK, TestIo.write(bs.queue(0), 2 * K64, TestIo.pattern(K64, 3)));
            assertRead(bs.queue(0), K64, TestIo.pattern(K64, 2));
            assertRead(bs.queue(0), 2 * K64, TestIo.pattern(K64, 3));
        } finally {
            bs.close();
        }
        assertEquals(size, Files.size(image), "the new cluster took the discarded one's place");
        assertEquals(0, ThinImage.check(image).leakedClusters());
    }

    // ---------------------------------------------------------------------------------------
    // ENOSPC

    @Test
    void aFullFileSystemIsReportedAsEnospcAndLosesNothing() throws Exception {
        Path image = dir.resolve("full.thin");
        ThinImage.create(image, 8 << 20, K64, null);
        long limit = Files.size(image) + 2L * K64; // room for one L2 table and one data cluster
        ThinDriver d = ThinImage.open(image, ImageAccess.WRITE, null, true, f -> new FullFile(f, limit));
        BlockDriverState bs = node(d);
        try {
            assertEquals(BlockStatus.OK, TestIo.write(bs.queue(0), 0, TestIo.pattern(4096, 1)));
            assertEquals(BlockStatus.ENOSPC, TestIo.write(bs.queue(0), 1 << 20, TestIo.pattern(4096, 2)));
            assertEquals(BlockStatus.OK, TestIo.write(bs.queue(0), 4096, TestIo.pattern(4096, 3)), "allocated clusters still take writes");
            assertEquals(BlockStatus.OK, TestIo.flush(bs.queue(0)));
            assertRead(bs.queue(0), 1 << 20, TestIo.zeros(4096));
        } finally {
            bs.close();
        }
        assertTrue(ThinImage.check(image).consistent());
        bs = node(ThinImage.open(image, ImageAccess.WRITE));
        try {
            assertRead(bs.queue(0), 0, TestIo.pattern(4096, 1));
            assertRead(bs.queue(0), 4096, TestIo.pattern(4096, 3));
        } finally {
            bs.close();
        }
    }

    /** A file on a file system that fills up at {@code limit} bytes. */
    private record FullFile(ThinFile inner, long limit) implements ThinFile {
        @Override
        public void read(ByteBuffer dst, long offset) throws IOException {
            inner.read(dst, offset);
        }

        @Override
        public void write(ByteBuffer src, long offset) throws IOException {
            if (offset + src.remaining() > limit) {
                throw new IOException("No space left on device");
            }
            inner.write(src, offset);
        }

        @Override
        public void sync() throws IOException {
            inner.sync();
        }

        @Override
        public long size() throws IOException {
            return inner.size();
        }

        @Override
        public void truncate(long size) throws IOException {
            inner.truncate(size);
        }

        @Override
        public void close() throws IOException {
            inner.close();
        }
    }

    // ---------------------------------------------------------------------------------------
    // blockStatus

    @Test
    void blockStatusConsultsTheBackingChain() throws Exception {
        rawBase(1 << 20, 12); // 1 MiB of data
        Path mid = dir.resolve("mid.thin");
        ThinImage.create(mid, 4 << 20, K64, "base.raw");
        BlockDriverState m = node(ThinImage.open(mid, ImageAccess.WRITE));
        assertEquals(BlockStatus.OK, TestIo.write(m.queue(0), 2 << 20, TestIo.pattern(K64, 13)));
        m.close();
        Path top = dir.resolve("top.thin");
        ThinImage.create(top, 4 << 20, K64, "mid.thin");
        BlockDriverState bs = node(ThinImage.open(top, ImageAccess.WRITE));
        try {
            BlockQueue q = bs.queue(0);
            assertEquals(BlockStatus.OK, TestIo.write(q, 3 << 20, TestIo.pattern(2 * K64, 14)));
            assertEquals(BlockStatus.OK, TestIo.writeZeroes(q, 0, K64));
            BlockDriver d = bs.driver();
            int hz = BlockDriver.STATUS_HOLE | BlockDriver.STATUS_ZERO;
            assertEquals(BlockDriver.status(K64, hz), d.blockStatus(0, 4 << 20), "zero cluster over backing data");
            assertEquals(BlockDriver.status((1 << 20) - K64, 0), d.blockStatus(K64, 4 << 20), "the raw base's data");
            assertEquals(BlockDriver.status(1 << 20, hz), d.blockStatus(1 << 20, 4 << 20), "nothing in the chain");
            assertEquals(BlockDriver.status(K64, 0), d.blockStatus(2 << 20, 4 << 20), "the middle layer's cluster");
            assertEquals(BlockDriver.status(2 * K64, 0), d.blockStatus(3 << 20, 4 << 20), "this layer's clusters");
            assertEquals(BlockDriver.status(4096, 0), d.blockStatus(3 << 20, 4096), "clipped to the length asked");
            assertEquals(BlockDriver.status((1 << 20) - 2 * K64, hz), d.blockStatus((3 << 20) + 2 * K64, 4 << 20));
        } finally {
            bs.close();
        }
    }

    // ---------------------------------------------------------------------------------------
    // Tools: info, map, rebase, commit

    @Test
    void infoAndMapDescribeTheChain() throws Exception {
        rawBase(1 << 20, 15);
        Path top = dir.resolve("top.thin");
        ThinImage.create(top, 2 << 20, K64, "base.raw");
        BlockDriverState bs = node(ThinImage.open(top, ImageAccess.WRITE));
        assertEquals(BlockStatus.OK, TestIo.write(bs.queue(0), K64, TestIo.pattern(2 * K64, 16)));
        assertEquals(BlockStatus.OK, TestIo.writeZeroes(bs.queue(0), 4 * K64, K64));
        bs.close();
        ThinImage.Info info = ThinImage.info(top, ImageAccess.READ);
        assertEquals(2 << 20, info.virtualSize());
        assertEquals(K64, info.clusterSize());
        assertEquals("base.raw", info.backingFile());
        assertEquals(dir.resolve("base.raw").toAbsolutePath(), info.backingPath().toAbsolutePath());
        assertEquals(2, info.allocatedClusters());
        assertEquals(1, info.zeroClusters());
        assertFalse(info.corrupt());

        List<ThinImage.Extent> map = ThinImage.map(top, ImageAccess.READ);
        String base = dir.resolve("base.raw").toString();
        assertEquals(new ThinImage.Extent(0, K64, 1, true, false, true, 0, base), map.get(0));
        assertEquals(0, map.get(1).depth());
        assertEquals(2 * K64, map.get(1).length());
        assertTrue(map.get(1).data());
        assertEquals(new ThinImage.Extent(3 * K64, K64, 1, true, false, true, 3 * K64, base), map.get(2));
        assertEquals(new ThinImage.Extent(4 * K64, K64, 0, true, true, false, -1, null), map.get(3));
        assertEquals(new ThinImage.Extent(5 * K64, (1 << 20) - 5 * K64, 1, true, false, true, 5 * K64, base), map.get(4));
        assertEquals(new ThinImage.Extent(1 << 20, 1 << 20, 1, false, true, false, -1, null), map.get(5));
        assertEquals(6, map.size());
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void theToolsSkipTheUnmappedRangesOfAHugeImage() throws Exception {
        long size = 256L << 40; // 4 G clusters of 64 KiB: one look at each would take minutes
        Path image = dir.resolve("huge.thin");
        ThinImage.create(image, size, K64, null);
        BlockDriverState bs = node(ThinImage.open(image, ImageAccess.WRITE));
        assertEquals(BlockStatus.OK, TestIo.write(bs.queue(0), 0, TestIo.pattern(4096, 1)));
        assertEquals(BlockStatus.OK, TestIo.write(bs.queue(0), size - 4096, TestIo.pattern(4096, 2)));
        bs.close();
        assertEquals(2, ThinImage.info(image, ImageAccess.READ).allocatedClusters());
        List<ThinImage.Extent> map = ThinImage.map(image, ImageAccess.READ);
        assertEquals(3, map.size(), map.toString());
        assertEquals(new ThinImage.Extent(K64, size - 2 * K64, 1, false, true, false, -1, null), map.get(1));
        try (ThinDriver d = ThinImage.open(image, ImageAccess.READ)) {
            assertEquals(BlockDriver.status(size - 2 * K64, BlockDriver.STATUS_HOLE | BlockDriver.STATUS_ZERO),
                    d.blockStatus(K64, size), "block status too");
        }
        assertTrue(ThinImage.check(image).consistent());
    }

    @Test
    void rebaseChangesOnlyTheName() throws Exception {
        rawBase(1 << 20, 17);
        Files.copy(dir.resolve("base.raw"), dir.resolve("moved.raw"));
        Path top = dir.resolve("top.thin");
        ThinImage.create(top, 1 << 20, K64, "base.raw");
        Files.delete(dir.resolve("base.raw"));
        assertThrows(IOException.class, () -> ThinImage.open(top, ImageAccess.READ));
        assertThrows(IOException.class, () -> ThinImage.rebase(top, "nowhere.raw"));
        ThinImage.rebase(top, "moved.raw");
        assertEquals("moved.raw", ThinImage.info(top, ImageAccess.READ).backingFile());
        BlockDriverState bs = node(ThinImage.open(top, ImageAccess.WRITE));
        try {
            assertRead(bs.queue(0), 0, TestIo.pattern(1 << 20, 17));
        } finally {
            bs.close();
        }
        ThinImage.rebase(top, null);
        assertNull(ThinImage.info(top, ImageAccess.READ).backingFile());
    }

    @Test
    void commitMovesTheOverlaysClustersIntoItsBacking() throws Exception {
        for (boolean thinBase : new boolean[] {false, true}) {
            Path base;
            if (thinBase) {
                base = dir.resolve("base.thin");
                ThinImage.create(base, 1 << 20, 4096, null);
            } else {
                base = rawBase(1 << 20, 18);
            }
            Path top = dir.resolve("top.thin");
            ThinImage.create(top, 1 << 20, K64, base.getFileName().toString());
            BlockDriverState bs = node(ThinImage.open(top, ImageAccess.WRITE));
            assertEquals(BlockStatus.OK, TestIo.write(bs.queue(0), 4096, TestIo.pattern(4096, 19)));
            assertEquals(BlockStatus.OK, TestIo.writeZeroes(bs.queue(0), 2 * K64, K64));
            ByteBuffer expected = ByteBuffer.allocateDirect(1 << 20);
            assertEquals(BlockStatus.OK, TestIo.read(bs.queue(0), 0, expected));
            bs.close();

            assertEquals(2L * K64, ThinImage.commit(top));
            assertEquals(0, ThinImage.info(top, ImageAccess.READ).allocatedClusters(), "the overlay is emptied");
            assertTrue(ThinImage.check(top).consistent());
            for (Path p : List.of(top, base)) {
                BlockDriverState n = node(ThinImage.openImage(p, ImageAccess.WRITE));
                try {
                    assertRead(n.queue(0), 0, expected);
                } finally {
                    n.close();
                }
            }
            Files.delete(top);
            Files.delete(base);
        }
    }
}
