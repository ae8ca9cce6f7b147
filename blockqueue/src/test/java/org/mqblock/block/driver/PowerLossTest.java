package org.mqblock.block.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.mqblock.block.BlockDriverState;
import org.mqblock.block.BlockQueue;
import org.mqblock.block.BlockStatus;
import org.mqblock.block.TestIo;
import org.mqblock.core.loop.IOThread;

/**
 * Simulated power loss, dm-log-writes style: a workload of writes (spanning clusters, partial
 * clusters over a backing image), discards, write-zeroes and flushes runs on a thin image whose
 * file is a {@link RecordingFile}. Then, for many crash points, the image the disk may hold is
 * rebuilt: every write issued before the last completed sync, plus a random subset (some torn at
 * sector granularity) of those after it. Each such image must check clean (leaks allowed), every
 * sector must read a value it legitimately had (its value at the last completed flush, or one
 * written since), and new writes after recovery must not disturb any of it (no cross-links).
 *
 * <p>Every 512-byte sector the workload writes names itself: sector number, generation, and a
 * filler derived from both, so data in the wrong place or a torn sector is told from the real one.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class PowerLossTest {

    static final int SECTOR = 512;
    static final long SIZE = 8 << 20;
    static final int SECTORS = (int) (SIZE / SECTOR);
    static final int OPS = 300;
    static final int TRIALS = 50;
    /** Sector value: reads as zeros. Generation 0 is the backing image's content; writes are 1, 2, ... */
    static final long ZERO = -1;

    static IOThread io;

    @TempDir
    Path dir;

    @BeforeAll
    static void start() {
        io = IOThread.start("power-loss", IOThread.UNPINNED);
    }

    @AfterAll
    static void stop() {
        io.close();
    }

    @ParameterizedTest(name = "{0}-byte clusters, backed {1}")
    @CsvSource({"4096, true", "65536, false"})
    void everyFlushedWriteSurvivesAnyPowerLossAndNothingIsCrossLinked(int clusterSize, boolean backed) throws Exception {
        long seed = 17L * clusterSize + (backed ? 1 : 0);
        Random rnd = new Random(seed);
        Path image = dir.resolve("disk.thin");
        long initial = ZERO;
        if (backed) {
            ByteBuffer base = ByteBuffer.allocate((int) SIZE);
            for (int s = 0; s < SECTORS; s++) {
                encode(base, s * SECTOR, s, 0);
            }
            Files.write(dir.resolve("base.raw"), base.array());
            initial = 0;
        }
        ThinImage.create(image, SIZE, clusterSize, backed ? "base.raw" : null);
        byte[] created = Files.readAllBytes(image);

        // The workload, recorded.
        History history = new History(initial);
        RecordingFile[] rec = new RecordingFile[1];
        ThinDriver driver = ThinImage.open(image, ImageAccess.WRITE, null, true, f -> rec[0] = new RecordingFile(f));
        BlockDriverState bs = BlockDriverState.create("power-loss", driver, List.of(io.context()));
        BlockQueue q = bs.queue(0);
        long gen = 0;
        for (int op = 0; op < OPS; op++) {
            int kind = rnd.nextInt(100);
            if (kind < 70) {
                int n = 1 + rnd.nextInt(rnd.nextBoolean() ? 16 : 256); // up to 128 KiB: across clusters
                int first = rnd.nextInt(SECTORS - n);
                gen++;
                ByteBuffer data = ByteBuffer.allocateDirect(n * SECTOR);
                for (int i = 0; i < n; i++) {
                    encode(data, i * SECTOR, first + i, gen);
                }
                assertEquals(BlockStatus.OK, TestIo.write(q, (long) first * SECTOR, data));
                history.set(op, first, n, gen);
            } else if (kind < 78) {
                int clusters = 1 + rnd.nextInt(2);
                long c = rnd.nextInt((int) (SIZE / clusterSize) - clusters);
                assertEquals(BlockStatus.OK, TestIo.discard(q, c * clusterSize, (long) clusters * clusterSize));
                history.set(op, (int) (c * clusterSize / SECTOR), clusters * clusterSize / SECTOR, ZERO);
            } else if (kind < 84) {
                int n = 1 + rnd.nextInt(128);
                int first = rnd.nextInt(SECTORS - n);
                assertEquals(BlockStatus.OK, TestIo.writeZeroes(q, (long) first * SECTOR, (long) n * SECTOR));
                history.set(op, first, n, ZERO);
            } else {
                assertEquals(BlockStatus.OK, TestIo.flush(q));
                history.flushed(op, rec[0].syncs());
            }
        }
        List<RecordingFile.Write> log = rec[0].log();
        int syncs = rec[0].syncs();
        bs.close();
        assertTrue(history.flushes.size() > 20 && syncs > 20, "the workload flushed: " + syncs + " syncs");

        // The crash points, in order, so the durable prefix is built once.
        int[] points = new int[TRIALS];
        for (int t = 0; t < TRIALS; t++) {
            points[t] = t == 0 ? syncs : rnd.nextInt(syncs + 1);
        }
        Arrays.sort(points);
        Disk durable = new Disk(created);
        int applied = 0;
        Path crashed = dir.resolve("crashed.thin");
        long nextGen = gen;
        for (int t = 0; t < TRIALS; t++) {
            int k = points[t];
            while (applied < log.size() && log.get(applied).epoch() < k) {
                durable.apply(log.get(applied++), null);
            }
            Disk disk = durable.copy();
            for (int i = applied; i < log.size() && log.get(i).epoch() == k; i++) {
                int fate = rnd.nextInt(5);
                if (fate >= 2) {
                    disk.apply(log.get(i), fate == 4 ? rnd : null); // all of it, or torn
                }
            }
            disk.save(crashed);
            String where = "crash after " + k + " of " + syncs + " syncs (trial " + t + ", seed " + seed + ")";
            ThinImage.CheckResult check = ThinImage.check(crashed);
            assertTrue(check.consistent(), where + ": " + check.errors());

            long[] got = readAll(crashed, where);
            Flush f = history.durableAt(k);
            for (int s = 0; s < SECTORS; s++) {
                if (got[s] != f.values[s] && !history.writtenAfter(f.op, s, got[s])) {
                    fail(where + ": sector " + s + " reads " + name(got[s]) + "; flushed " + name(f.values[s])
                            + ", and nothing after the flush at op " + f.op + " wrote that");
                }
            }
            // Recovered: new writes land in clusters of their own, disturbing nothing flushed.
            nextGen = writeMore(crashed, got, rnd, nextGen);
            assertEquals(Arrays.toString(got), Arrays.toString(readAll(crashed, where + ", after more writes")),
                    where + ": writes after recovery");
            assertTrue(ThinImage.check(crashed).consistent(), where + ": after more writes");
            Files.delete(crashed);
        }
    }

    @org.junit.jupiter.api.Test
    void aFlushOnOneQueueMakesAllocationsCompletedOnAnotherDurable() throws Exception {
        IOThread other = IOThread.start("power-loss-2", IOThread.UNPINNED);
        Path image = dir.resolve("two.thin");
        ThinImage.create(image, SIZE, 4096, null);
        byte[] created = Files.readAllBytes(image);
        RecordingFile[] rec = new RecordingFile[1];
        ThinDriver driver = ThinImage.open(image, ImageAccess.WRITE, null, true, f -> rec[0] = new RecordingFile(f));
        BlockDriverState bs = BlockDriverState.create("two", driver, List.of(io.context(), other.context()));
        List<RecordingFile.Write> log;
        int syncs;
        try {
            for (int i = 0; i < 64; i++) { // allocating writes on queue 0, each in a cluster of its own
                ByteBuffer data = ByteBuffer.allocateDirect(4096);
                for (int j = 0; j < 8; j++) {
                    encode(data, j * SECTOR, i * 64 + j, i + 1);
                }
                assertEquals(BlockStatus.OK, TestIo.write(bs.queue(0), (long) i * 64 * SECTOR, data));
            }
            assertEquals(BlockStatus.OK, TestIo.flush(bs.queue(1)));
            syncs = rec[0].syncs();
            log = rec[0].log();
        } finally {
            bs.close();
            other.close();
        }
        Disk disk = new Disk(created); // power lost right after the flush: only what it made durable
        for (RecordingFile.Write w : log) {
            if (w.epoch() < syncs) {
                disk.apply(w, null);
            }
        }
        Path crashed = dir.resolve("two-crashed.thin");
        disk.save(crashed);
        assertTrue(ThinImage.check(crashed).consistent());
        long[] got = readAll(crashed, "after the flush on queue 1");
        for (int i = 0; i < 64; i++) {
            for (int j = 0; j < 8; j++) {
                assertEquals(i + 1, got[i * 64 + j], "sector " + (i * 64 + j) + ", written on queue 0 before the flush");
            }
        }
    }

    private long writeMore(Path image, long[] values, Random rnd, long gen) throws Exception {
        BlockDriverState bs = BlockDriverState.create("recovered", ThinImage.open(image, ImageAccess.WRITE),
                List.of(io.context()));
        try {
            BlockQueue q = bs.queue(0);
            for (int i = 0; i < 12; i++) {
                int n = 1 + rnd.nextInt(64);
                int first = rnd.nextInt(SECTORS - n);
                gen++;
                ByteBuffer data = ByteBuffer.allocateDirect(n * SECTOR);
                for (int j = 0; j < n; j++) {
                    encode(data, j * SECTOR, first + j, gen);
                    values[first + j] = gen;
                }
                assertEquals(BlockStatus.OK, TestIo.write(q, (long) first * SECTOR, data));
            }
            assertEquals(BlockStatus.OK, TestIo.flush(q));
        } finally {
            bs.close();
        }
        return gen;
    }

    private static long[] readAll(Path image, String where) throws Exception {
        long[] values = new long[SECTORS];
        try (ThinDriver d = ThinImage.open(image, ImageAccess.READ)) {
            ByteBuffer all = ByteBuffer.allocateDirect((int) SIZE);
            d.readBlocking(0, all);
            for (int s = 0; s < SECTORS; s++) {
                values[s] = decode(all, s, where);
            }
        }
        return values;
    }

    static void encode(ByteBuffer b, int at, long sector, long gen) {
        b.putLong(at, sector);
        b.putLong(at + 8, gen);
        for (int i = 16; i < SECTOR; i++) {
            b.put(at + i, (byte) (sector * 131 + gen * 31 + i));
        }
    }

    /** The generation sector {@code s} holds, ZERO for zeros; fails on anything else. */
    static long decode(ByteBuffer all, int s, String where) {
        int at = s * SECTOR;
        boolean zeros = true;
        for (int i = 0; i < SECTOR && zeros; i += 8) {
            zeros = all.getLong(at + i) == 0;
        }
        if (zeros) {
            return ZERO;
        }
        long sector = all.getLong(at);
        long gen = all.getLong(at + 8);
        boolean intact = sector == s;
        for (int i = 16; i < SECTOR && intact; i++) {
            intact = all.get(at + i) == (byte) (sector * 131 + gen * 31 + i);
        }
        if (!intact) {
            fail(where + ": sector " + s + " holds garbage or another sector's data (it names sector " + sector
                    + ", generation " + gen + ")");
        }
        return gen;
    }

    static String name(long v) {
        return v == ZERO ? "zeros" : v == 0 ? "the backing data" : "generation " + v;
    }

    /** The state at a completed flush: its op and every sector's value. */
    record Flush(int op, int syncsDone, long[] values) {}

    /** What the workload did, for deciding what a sector may legitimately read. */
    static final class History {
        final long[] values = new long[SECTORS];
        final List<Flush> flushes = new ArrayList<>();
        /** Every change: op, first sector, count, value. */
        final List<long[]> changes = new ArrayList<>();

        History(long initial) {
            Arrays.fill(values, initial);
            flushes.add(new Flush(-1, 0, values.clone()));
        }

        void set(int op, int first, int n, long value) {
            Arrays.fill(values, first, first + n, value);
            changes.add(new long[] {op, first, n, value});
        }

        void flushed(int op, int syncsDone) {
            flushes.add(new Flush(op, syncsDone, values.clone()));
        }

        /** The last flush that was durable once {@code k} syncs had completed. */
        Flush durableAt(int k) {
            Flush f = flushes.get(0);
            for (Flush x : flushes) {
                if (x.syncsDone() <= k) {
                    f = x;
                }
            }
            return f;
        }

        boolean writtenAfter(int op, int sector, long value) {
            for (long[] c : changes) {
                if (c[0] > op && c[3] == value && sector >= c[1] && sector < c[1] + c[2]) {
                    return true;
                }
            }
            return false;
        }
    }

    /** A disk's content as bytes, growing as writes extend it. */
    static final class Disk {
        private byte[] bytes;
        private int length;

        Disk(byte[] initial) {
            bytes = initial.clone();
            length = initial.length;
        }

        Disk copy() {
            Disk d = new Disk(new byte[0]);
            d.bytes = Arrays.copyOf(bytes, bytes.length);
            d.length = length;
            return d;
        }

        /** Applies {@code w} whole, or (with {@code tear}) a random subset of its 512-byte-aligned pieces. */
        void apply(RecordingFile.Write w, Random tear) {
            long from = w.offset();
            long to = from + w.data().length;
            for (long p = from; p < to; ) {
                long next = Math.min(to, (p / SECTOR + 1) * SECTOR);
                if (tear == null || tear.nextBoolean()) {
                    put(p, w.data(), (int) (p - from), (int) (next - p));
                }
                p = next;
            }
        }

        private void put(long at, byte[] src, int index, int n) {
            int end = (int) (at + n);
            if (end > bytes.length) {
                bytes = Arrays.copyOf(bytes, Math.max(end, bytes.length * 2));
            }
            System.arraycopy(src, index, bytes, (int) at, n);
            length = Math.max(length, end);
        }

        void save(Path p) throws Exception {
            try (FileChannel ch = FileChannel.open(p, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                    StandardOpenOption.WRITE)) {
                ByteBuffer b = ByteBuffer.wrap(bytes, 0, length);
                while (b.hasRemaining()) {
                    ch.write(b);
                }
            }
        }
    }
}
