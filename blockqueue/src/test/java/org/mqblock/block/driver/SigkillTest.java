package org.mqblock.block.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A child JVM ({@link CrashChild}) writes to a thin overlay of a raw base and is killed with
 * SIGKILL at a random moment, round after round on the same image. After each kill the image
 * must check clean (leaks allowed) and every sector must read its value at the last flush the
 * child reported, or a value the child's sequence wrote after it.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SigkillTest {

    static final int ROUNDS = 4;
    static final int CLUSTER = 16 << 10;

    @TempDir
    Path dir;

    @Test
    void aKilledWriterLosesNoFlushedWriteAndLeavesAConsistentImage() throws Exception {
        ByteBuffer base = ByteBuffer.allocate((int) PowerLossTest.SIZE);
        for (int s = 0; s < PowerLossTest.SECTORS; s++) {
            PowerLossTest.encode(base, s * PowerLossTest.SECTOR, s, 0);
        }
        Files.write(dir.resolve("base.raw"), base.array());
        Path image = dir.resolve("disk.thin");
        ThinImage.create(image, PowerLossTest.SIZE, CLUSTER, "base.raw");
        long[] values = new long[PowerLossTest.SECTORS]; // generation 0: the base's data
        Random rnd = new Random(42);
        for (int round = 1; round <= ROUNDS; round++) {
            int waitFor = 3 + rnd.nextInt(25);
            int flushedOp = runAndKill(image, round, waitFor, rnd.nextInt(40));
            String where = "round " + round + ", killed after the flush at op " + flushedOp;
            ThinImage.CheckResult check = ThinImage.check(image);
            assertTrue(check.consistent(), where + ": " + check.errors());

            // Replay the child's sequence: the state at its last reported flush, and what came after.
            Random ops = new Random(round);
            long[] flushed = values.clone();
            List<CrashChild.Op> after = new ArrayList<>();
            for (int i = 0; i < flushedOp + 20_000; i++) {
                CrashChild.Op op = CrashChild.op(ops, round, i, CLUSTER);
                if (op.kind() == 'F') {
                    continue;
                }
                if (i < flushedOp) {
                    java.util.Arrays.fill(flushed, op.first(), op.first() + op.n(), op.gen());
                } else {
                    after.add(op);
                }
            }
            long[] got = readAll(image, where);
            for (int s = 0; s < got.length; s++) {
                if (got[s] != flushed[s] && !writtenAfter(after, s, got[s])) {
                    fail(where + ": sector " + s + " reads " + PowerLossTest.name(got[s]) + ", flushed "
                            + PowerLossTest.name(flushed[s]));
                }
            }
            values = got;
        }
    }

    private static boolean writtenAfter(List<CrashChild.Op> after, int s, long value) {
        for (CrashChild.Op op : after) {
            if (op.gen() == value && s >= op.first() && s < op.first() + op.n()) {
                return true;
            }
        }
        return false;
    }

    private static long[] readAll(Path image, String where) throws Exception {
        long[] values = new long[PowerLossTest.SECTORS];
        try (ThinDriver d = ThinImage.open(image, ImageAccess.READ)) {
            ByteBuffer all = ByteBuffer.allocateDirect((int) PowerLossTest.SIZE);
            d.readBlocking(0, all);
            for (int s = 0; s < values.length; s++) {
                values[s] = PowerLossTest.decode(all, s, where);
            }
        }
        return values;
    }

    /** Runs the child until it has reported {@code flushes} flushes, waits {@code ms}, kills it; the last flush seen. */
    private static int runAndKill(Path image, int round, int flushes, int ms) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "-ea", "--enable-native-access=ALL-UNNAMED", "-Xmx256m",
                "-cp", System.getProperty("java.class.path"), CrashChild.class.getName(),
                image.toString(), Integer.toString(round), Integer.toString(CLUSTER))
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        AtomicInteger lastFlush = new AtomicInteger(-1);
        AtomicInteger seen = new AtomicInteger();
        AtomicReference<String> trouble = new AtomicReference<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()))) {
                for (String line; (line = r.readLine()) != null; ) {
                    if (line.startsWith("F ")) {
                        lastFlush.set(Integer.parseInt(line.substring(2)));
                        seen.incrementAndGet();
                    } else {
                        trouble.set(line);
                    }
                }
            } catch (Exception e) {
                trouble.compareAndSet(null, e.toString());
            }
        });
        reader.start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (seen.get() < flushes && p.isAlive() && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertTrue(p.isAlive(), "the child died on its own: " + trouble.get());
            assertTrue(seen.get() >= flushes, "the child reported " + seen.get() + " flushes in 60 s");
            Thread.sleep(ms);
        } finally {
            p.destroyForcibly(); // SIGKILL
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            reader.join(TimeUnit.SECONDS.toMillis(30));
        }
        assertEquals(137, p.exitValue(), "killed by SIGKILL");
        return lastFlush.get();
    }
}
