package org.mqblock.experiments.img;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.block.driver.ImageAccess;
import org.mqblock.block.driver.ThinImage;
import org.mqblock.experiments.Mqb;

/**
 * Backing chains: a thin overlay and a qcow2 overlay given the same writes over the same raw base
 * map alike in qemu-img's terms; rebase keeps what an image reads (safe) or only renames (-u);
 * check -r repairs; a writer elsewhere makes reads fail naming the image unless -U.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ImgChainTest {

    private static final int K64 = 64 << 10;

    @BeforeAll
    static void qemuImgPresent() throws Exception {
        // ImgCommandTest installs qemu-utils when missing; this class needs qemu-img and qemu-io too.
        Path root = Path.of("").toAbsolutePath();
        while (root != null && !Files.exists(root.resolve("scripts/install-nbd-peers.sh"))) {
            root = root.getParent();
        }
        if (root == null) {
            fail("cannot find scripts/install-nbd-peers.sh");
        }
        run(Files.createTempDirectory("img-peers"), root.resolve("scripts/install-nbd-peers.sh").toString());
    }

    /**
     * Over one raw base (1 MiB of data, then a hole): data at 64k and 2M, zero clusters at 0 and
     * 1M, written once into a thin overlay (through the block layer) and once into a qcow2 one
     * (qemu-io). Both maps give the same runs with the same depth, presence, zero and data flags;
     * only where the overlay's own clusters lie in its file differs between the formats.
     */
    @Test
    void overlayMapMatchesQemuImgMapOfTheSameWritesToQcow2(@TempDir Path dir) throws Exception {
        Path base = dir.resolve("base.raw");
        run(dir, "qemu-img", "create", "-q", "-f", "raw", base.toString(), "4M");
        run(dir, "qemu-io", "-f", "raw", "-c", "write -P 1 0 1M", base.toString());
        Path q = dir.resolve("ov.qcow2");
        run(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", q.toString());
        run(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 2 64k 64k", "-c", "write -z 1M 64k", "-c", "write -z 0 64k",
                "-c", "write -P 3 2M 128k", q.toString());
        Path t = dir.resolve("ov.thin");
        ok("img", "create", "-f", "thin", "-b", "base.raw", "-F", "raw", t.toString());
        try (ImageWriter w = new ImageWriter(ImageFormat.THIN.openForWriting(t), 128 << 10)) {
            w.write(K64, filled(K64, 2));
            w.writeZeroes(1 << 20, K64);
            w.writeZeroes(0, K64);
            w.write(2 << 20, filled(2 * K64, 3));
            w.flush();
        }
        String theirs = withoutOverlayOffsets(run(dir, "qemu-img", "map", "--output=json", q.toString()));
        String ours = withoutOverlayOffsets(ok("img", "map", "--output=json", t.toString()));
        assertEquals(theirs, ours);
        // And both read the same bytes.
        Path qraw = dir.resolve("q.raw");
        run(dir, "qemu-img", "convert", "-f", "qcow2", "-O", "raw", q.toString(), qraw.toString());
        Path traw = dir.resolve("t.raw");
        ok("img", "convert", "-O", "raw", t.toString(), traw.toString());
        assertArrayEquals(Files.readAllBytes(qraw), Files.readAllBytes(traw));
    }

    /** Safe rebase onto an empty base copies what the old base showed; the image reads the same, and no longer needs it. */
    @Test
    void safeRebaseKeepsWhatTheImageReadsUnsafeOnlyRenames(@TempDir Path dir) throws Exception {
        Path base = dir.resolve("base.raw");
        byte[] data = new byte[4 << 20];
        for (int i = 0; i < (1 << 20); i++) {
            data[i] = (byte) (i * 31 + 7);
        }
        Files.write(base, data);
        Path top = dir.resolve("top.thin");
        ok("img", "create", "-f", "thin", "-b", "base.raw", "-F", "raw", top.toString());
        try (ImageWriter w = new ImageWriter(ImageFormat.THIN.openForWriting(top), K64)) {
            w.write(3 << 20, filled(K64, 9));
            w.flush();
        }
        byte[] before = read(dir, top);
        Path empty = dir.resolve("empty.raw");
        ok("img", "create", "-f", "raw", empty.toString(), "4M");

        ok("img", "rebase", "-b", "empty.raw", "-F", "raw", top.toString());
        assertTrue(ok("img", "info", top.toString()).contains("backing file: empty.raw (actual path: " + empty + ")\n"));
        assertArrayEquals(before, read(dir, top), "safe rebase changed what the image reads");
        Files.delete(base); // nothing still reads it
        assertArrayEquals(before, read(dir, top));

        Path moved = dir.resolve("moved.raw");
        Files.move(empty, moved);
        ok("img", "rebase", "-u", "-b", "moved.raw", "-F", "raw", top.toString());
        assertArrayEquals(before, read(dir, top), "-u onto the same data under a new name");

        ok("img", "rebase", "-b", "", top.toString());
        assertFalse(ok("img", "info", top.toString()).contains("backing file"));
        assertArrayEquals(before, read(dir, top), "rebase onto nothing changed what the image reads");

        Result r = mqb("img", "rebase", "-b", "nowhere.raw", top.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("nowhere.raw"), r.err());
    }

    /** check -r leaks cuts the leaked cluster off the file; -r all clears an entry pointing outside it. */
    @Test
    void checkRepairsLeaksAndErrors(@TempDir Path dir) throws Exception {
        Path t = dir.resolve("t.thin");
        ok("img", "create", "-f", "thin", t.toString(), "16M");
        long clean = Files.size(t);
        try (FileChannel ch = FileChannel.open(t, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(K64), ch.size());
        }
        Result repaired = mqb("img", "check", "-r", "leaks", t.toString());
        assertEquals(0, repaired.code(), repaired.out() + repaired.err());
        assertTrue(repaired.out().startsWith("The following inconsistencies were found and repaired:\n\n"
                + "    1 leaked clusters\n    0 corruptions\n\nDouble checking the fixed image now...\n"
                + "No errors were found on the image.\n"), repaired.out());
        assertEquals(clean, Files.size(t));

        try (FileChannel ch = FileChannel.open(t, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 1L << 40), K64);
        }
        assertEquals(2, mqb("img", "check", t.toString()).code());
        Result leaksOnly = mqb("img", "check", "-r", "leaks", t.toString());
        assertEquals(2, leaksOnly.code(), "-r leaks leaves errors alone: " + leaksOnly.out());
        Result all = mqb("img", "check", "-r", "all", "--output=json", t.toString());
        assertEquals(0, all.code(), all.out() + all.err());
        assertTrue(all.out().contains("\"corruptions-fixed\": 1"), all.out());
        assertEquals(0, mqb("img", "check", t.toString()).code());
    }

    /** A writer holding the image makes info fail naming it; -U reads anyway. */
    @Test
    void aWriterElsewhereIsNamedUnlessForceShare(@TempDir Path dir) throws Exception {
        Path t = dir.resolve("busy.thin");
        ok("img", "create", "-f", "thin", t.toString(), "1M");
        try (BlockDriver writer = ThinImage.open(t, ImageAccess.WRITE)) {
            Result r = mqb("img", "info", t.toString());
            assertEquals(1, r.code(), r.out());
            assertTrue(r.err().contains(t.toString()), r.err());
            assertTrue(mqb("img", "info", "-U", t.toString()).out().contains("file format: thin"));
            assertTrue(mqb("img", "map", "-U", "--output=json", t.toString()).out().contains("\"present\": false"));
            assertEquals(1, mqb("img", "check", t.toString()).code(), "check takes a reader's locks");
            assertEquals(0, mqb("img", "check", "-U", t.toString()).code());
            assertEquals(1, mqb("img", "check", "-U", "-r", "leaks", t.toString()).code(), "a repair cannot share");
            assertEquals(1, mqb("img", "resize", t.toString(), "2M").code(), "a second writer");
        }
    }

    // ---------------------------------------------------------------------------------------

    private static ByteBuffer filled(int n, int value) {
        byte[] b = new byte[n];
        Arrays.fill(b, (byte) value);
        return ByteBuffer.wrap(b);
    }

    /** qemu-img map's JSON without the offsets of the overlay's own data (the formats place clusters differently). */
    private static String withoutOverlayOffsets(String json) {
        return json.strip().replaceAll("(\"depth\": 0, [^}]*\"data\": true), \"offset\": \\d+", "$1");
    }

    private static byte[] read(Path dir, Path image) throws IOException {
        Path out = Files.createTempFile(dir, "view", ".raw");
        Files.delete(out);
        ok("img", "convert", "-O", "raw", image.toString(), out.toString());
        byte[] b = Files.readAllBytes(out);
        Files.delete(out);
        return b;
    }

    private record Result(int code, String out, String err) {}

    private static Result mqb(String... args) {
        var cmd = Mqb.commandLine();
        StringWriter err = new StringWriter();
        cmd.setErr(new PrintWriter(err));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream saved = System.out;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            int code = cmd.execute(args);
            return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString());
        } finally {
            System.setOut(saved);
        }
    }

    private static String ok(String... args) {
        Result r = mqb(args);
        assertEquals(0, r.code(), "mqb " + String.join(" ", args) + ":\n" + r.err() + r.out());
        return r.out();
    }

    private static String run(Path dir, String... command) throws Exception {
        Path log = Files.createTempFile(dir, "out", ".txt");
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .start();
        try {
            if (!p.waitFor(600, TimeUnit.SECONDS)) {
                fail(String.join(" ", command) + " did not finish:\n" + Files.readString(log));
            }
            String out = Files.readString(log);
            assertEquals(0, p.exitValue(), String.join(" ", command) + " failed:\n" + out);
            return out;
        } finally {
            p.destroyForcibly();
            Files.deleteIfExists(log);
        }
    }
}
