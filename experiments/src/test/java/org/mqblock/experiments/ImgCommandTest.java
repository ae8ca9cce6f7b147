package org.mqblock.experiments;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.mqblock.nativeio.FileStat;

/**
 * {@code mqb img} against qemu-img 7.2 (qemu-utils, installed by {@code scripts/install-nbd-peers.sh}
 * when missing; the tests fail, not skip, when it cannot be): the same bytes after round trips
 * through both tools, the same answers where both describe the same file, and qemu-img's messages
 * and exit statuses.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ImgCommandTest {

    private static final int MIB = 1 << 20;

    @BeforeAll
    static void installQemuImg() throws Exception {
        Path root = Path.of("").toAbsolutePath();
        while (root != null && !Files.exists(root.resolve("scripts/install-nbd-peers.sh"))) {
            root = root.getParent();
        }
        if (root == null) {
            fail("cannot find scripts/install-nbd-peers.sh above " + Path.of("").toAbsolutePath());
        }
        Result r = run(Files.createTempDirectory("img-peers"), 900, root.resolve("scripts/install-nbd-peers.sh").toString());
        assertEquals(0, r.exitCode(), "could not install qemu-utils (qemu-img):\n" + r.output());
    }

    /**
     * thin (ours) → raw (ours) → qcow2 (qemu-img) → raw (qemu-img) → thin (ours) → raw (ours):
     * every raw along the way equals the original byte for byte, holes stay holes, and a block of
     * zeros written as data is not stored as data.
     */
    @Test
    void convertRoundTripThroughQemuImgKeepsEveryByte(@TempDir Path dir) throws Exception {
        Path original = dir.resolve("original.raw");
        byte[] expected = sampleDisk(original);
        Path a = dir.resolve("a.thin");
        mqb("img", "convert", "-f", "raw", "-O", "thin", original.toString(), a.toString());
        Path raw1 = dir.resolve("raw1.raw");
        mqb("img", "convert", "-O", "raw", a.toString(), raw1.toString());
        Path q = dir.resolve("q.qcow2");
        qemuImg(dir, "convert", "-f", "raw", "-O", "qcow2", raw1.toString(), q.toString());
        Path raw2 = dir.resolve("raw2.raw");
        qemuImg(dir, "convert", "-f", "qcow2", "-O", "raw", q.toString(), raw2.toString());
        Path b = dir.resolve("b.thin");
        mqb("img", "convert", "-f", "raw", "-O", "thin", raw2.toString(), b.toString());
        Path raw3 = dir.resolve("raw3.raw");
        mqb("img", "convert", "-f", "thin", "-O", "raw", b.toString(), raw3.toString());

        for (Path p : new Path[] {raw1, raw2, raw3}) {
            assertArrayEquals(expected, Files.readAllBytes(p), p + " differs from the original");
        }
        // The sample holds 5 x 64 KiB of non-zero data (and a 64 KiB run of written zeros): what
        // our converts stored must be that (one block straddles two clusters), not the 32 MiB the disk spans.
        for (Path p : new Path[] {raw1, raw3}) {
            long used = FileStat.allocatedBytes(p);
            assertTrue(used <= 6 * 64 * 1024, p + " stores " + used + " bytes: holes or zeros were written as data");
        }
        String check = mqb("img", "check", b.toString());
        assertTrue(check.contains("No errors were found on the image."), check);
        assertTrue(check.contains("6/512 = 1.17% allocated"), "only the clusters with data are allocated: " + check);
    }

    /**
     * A raw file of 1,000,000 bytes (not a whole number of sectors): both tools see 1000448 bytes,
     * the last sector padded with zeros, map it alike and convert it alike, through thin and back.
     */
    @Test
    void aRawFileEndingInAPartialSectorConvertsAsQemuImgConvertsIt(@TempDir Path dir) throws Exception {
        Path odd = dir.resolve("odd.raw");
        byte[] data = new byte[1_000_000];
        new Random(3).nextBytes(data);
        Files.write(odd, data);
        assertEquals(qemuImg(dir, "info", "-f", "raw", odd.toString()), mqb("img", "info", "-f", "raw", odd.toString()));
        assertEquals(qemuImg(dir, "map", "--output=json", "-f", "raw", odd.toString()).strip(),
                mqb("img", "map", "--output=json", "-f", "raw", odd.toString()).strip());
        Path theirs = dir.resolve("theirs.raw");
        qemuImg(dir, "convert", "-f", "raw", "-O", "raw", odd.toString(), theirs.toString());
        Path thin = dir.resolve("odd.thin");
        mqb("img", "convert", "-f", "raw", "-O", "thin", odd.toString(), thin.toString());
        Path ours = dir.resolve("ours.raw");
        mqb("img", "convert", "-O", "raw", thin.toString(), ours.toString());
        assertArrayEquals(Files.readAllBytes(theirs), Files.readAllBytes(ours));
        assertEquals(1000448, Files.size(ours));
    }

    /**
     * convert -n into an existing image full of 0xff: afterwards it reads exactly as the source,
     * holes and zero blocks included (they become write-zeroes), for a raw and a thin target.
     */
    @Test
    void convertIntoAnExistingImageZeroesWhatTheSourceDoesNotHold(@TempDir Path dir) throws Exception {
        Path source = dir.resolve("source.raw");
        byte[] expected = sampleDisk(source);
        byte[] garbage = new byte[expected.length];
        Arrays.fill(garbage, (byte) 0xff);
        Path full = dir.resolve("full.raw");
        Files.write(full, garbage);
        for (String fmt : new String[] {"raw", "thin"}) {
            Path target = dir.resolve("target." + fmt);
            mqb("img", "convert", "-f", "raw", "-O", fmt, full.toString(), target.toString());
            mqb("img", "convert", "-n", "-f", "raw", "-O", fmt, source.toString(), target.toString());
            Path view = dir.resolve("view-" + fmt + ".raw");
            mqb("img", "convert", "-O", "raw", target.toString(), view.toString());
            assertArrayEquals(expected, Files.readAllBytes(view), fmt + " target after convert -n");
        }
    }

    /** qemu-img map and ours, both in JSON, over the same raw file: the same runs of data and holes. */
    @Test
    void mapOfARawFileMatchesQemuImgMap(@TempDir Path dir) throws Exception {
        Path raw = dir.resolve("disk.raw");
        sampleDisk(raw);
        String ours = mqb("img", "map", "--output=json", "-f", "raw", raw.toString());
        String theirs = qemuImg(dir, "map", "--output=json", "-f", "raw", raw.toString());
        assertEquals(theirs.strip(), ours.strip());
        String oursHuman = mqb("img", "map", "-f", "raw", raw.toString());
        String theirsHuman = qemuImg(dir, "map", "-f", "raw", raw.toString());
        assertEquals(theirsHuman.strip(), oursHuman.strip());
    }

    /** info of a raw file reads as qemu-img's; a thin overlay names its backing and the backing's format. */
    @Test
    void infoShowsWhatQemuImgShows(@TempDir Path dir) throws Exception {
        Path raw = dir.resolve("base.raw");
        sampleDisk(raw);
        String ours = mqb("img", "info", "-f", "raw", raw.toString());
        String theirs = qemuImg(dir, "info", "-f", "raw", raw.toString());
        assertEquals(theirs, ours);
        String oursJson = mqb("img", "info", "--output=json", raw.toString());
        for (String key : new String[] {"\"virtual-size\": 33554432", "\"format\": \"raw\"", "\"dirty-flag\": false",
                "\"actual-size\": " + FileStat.allocatedBytes(raw)}) {
            assertTrue(oursJson.contains(key), key + " missing from " + oursJson);
        }
        Path top = dir.resolve("top.thin");
        String created = mqb("img", "create", "-f", "thin", "-b", "base.raw", "-F", "raw", top.toString());
        assertEquals("Formatting '" + top + "', fmt=thin cluster_size=65536 size=33554432 backing_file=base.raw"
                + " backing_fmt=raw\n", created);
        String info = mqb("img", "info", top.toString());
        assertTrue(info.startsWith("image: " + top + "\nfile format: thin\nvirtual size: 32 MiB (33554432 bytes)\n"), info);
        assertTrue(info.contains("cluster_size: 65536\n"), info);
        assertTrue(info.contains("backing file format: raw\n"), info);
        String chain = mqb("img", "info", "--backing-chain", "--output=json", top.toString());
        assertTrue(chain.strip().startsWith("["), chain);
        assertEquals(2, chain.split("\"virtual-size\"").length - 1, chain);
    }

    /** Sizes as qemu-img takes them, rounded up to the 512-byte sector; bad ones refused as qemu-img refuses them. */
    @Test
    void createTakesQemuImgSizesAndRefusesBadOnes(@TempDir Path dir) throws Exception {
        Path r = dir.resolve("r.raw");
        assertEquals("Formatting '" + r + "', fmt=raw size=1000\n", mqb("img", "create", "-f", "raw", r.toString(), "1000"));
        assertEquals(1024, Files.size(r));
        Path t = dir.resolve("t.thin");
        mqb("img", "create", "-f", "thin", "-o", "cluster_size=4k", t.toString(), "1.5G");
        String info = mqb("img", "info", "--output=json", t.toString());
        assertTrue(info.contains("\"virtual-size\": 1610612736"), info);
        assertTrue(info.contains("\"cluster-size\": 4096"), info);

        refused("Invalid image size specified", "img", "create", "-f", "raw", dir.resolve("x").toString(), "1.5");
        refused("Unknown file format 'qcow3'", "img", "create", "-f", "qcow3", dir.resolve("x").toString(), "1M");
        refused("Invalid parameter 'foo'", "img", "create", "-f", "thin", "-o", "foo=1", dir.resolve("x").toString(), "1M");
        refused("Backing file not supported for file format 'raw'", "img", "create", "-f", "raw", "-b", "r.raw", "-F", "raw",
                dir.resolve("x").toString());
        refused("Backing file specified without backing format", "img", "create", "-f", "thin", "-b", "r.raw",
                dir.resolve("x").toString());
        refused("holds a raw image, not thin", "img", "create", "-f", "thin", "-b", "r.raw", "-F", "thin",
                dir.resolve("x").toString());
        refused("Image creation needs a size parameter", "img", "create", "-f", "thin", dir.resolve("x").toString());
        refused("Image is not in thin format", "img", "info", "-f", "thin", r.toString());
        refused("No such file or directory", "img", "info", dir.resolve("missing").toString());
        assertTrue(!Files.exists(dir.resolve("x")), "a refused create left a file behind");
    }

    /** check: 0 and qemu-img's words on a good image, 3 with a leaked cluster, 2 when a table points outside, 63 on raw. */
    @Test
    void checkReportsWithQemuImgExitStatuses(@TempDir Path dir) throws Exception {
        Path t = dir.resolve("t.thin");
        mqb("img", "create", "-f", "thin", t.toString(), "16M");
        MqbRun good = MqbRun.of("img", "check", "--output=json", t.toString());
        assertEquals(0, good.exitCode(), good.err());
        assertTrue(good.out().contains("\"check-errors\": 0") && good.out().contains("\"format\": \"thin\"")
                && !good.out().contains("leaks"), good.out());

        try (FileChannel ch = FileChannel.open(t, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(65536), ch.size()); // a cluster nothing references
        }
        MqbRun leaky = MqbRun.of("img", "check", t.toString());
        assertEquals(3, leaky.exitCode(), leaky.out() + leaky.err());
        assertTrue(leaky.out().contains("1 leaked clusters were found on the image.\n"
                + "This means waste of disk space, but no harm to data.\n"), leaky.out());

        try (FileChannel ch = FileChannel.open(t, StandardOpenOption.WRITE)) {
            // L1 entry 0 (the table sits in cluster 1) pointing far past the end of the file
            ch.write(ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(0, 1L << 40), 65536);
        }
        MqbRun corrupt = MqbRun.of("img", "check", t.toString());
        assertEquals(2, corrupt.exitCode(), corrupt.out() + corrupt.err());
        assertTrue(corrupt.out().contains("errors were found on the image.\n"
                + "Data may be corrupted, or further writes to the image may corrupt it.\n"), corrupt.out());

        MqbRun corruptJson = MqbRun.of("img", "check", "--output=json", t.toString());
        assertEquals(2, corruptJson.exitCode());
        assertTrue(corruptJson.out().strip().startsWith("{") && corruptJson.out().contains("\"corruptions\": 1"),
                "stdout is the JSON alone: " + corruptJson.out());
        assertTrue(corruptJson.err().contains("ERROR L1 entry 0"), corruptJson.err());

        try (FileChannel ch = FileChannel.open(t, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(4).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(0, 99), 12); // cluster_bits
        }
        MqbRun broken = MqbRun.of("img", "check", t.toString());
        assertEquals(1, broken.exitCode(), "a header too damaged to check: " + broken.out() + broken.err());
        assertTrue(broken.err().contains("Check failed"), broken.err());

        Path raw = dir.resolve("r.raw");
        mqb("img", "create", raw.toString(), "1M");
        MqbRun unsupported = MqbRun.of("img", "check", raw.toString());
        assertEquals(63, unsupported.exitCode());
        assertTrue(unsupported.err().contains("This image format does not support checks"), unsupported.err());
    }

    /** resize grows, refuses to shrink without --shrink (keeping the size), and shrinks with it. */
    @Test
    void resizeShrinksOnlyWhenAsked(@TempDir Path dir) throws Exception {
        for (String fmt : new String[] {"raw", "thin"}) {
            Path p = dir.resolve("r." + fmt);
            mqb("img", "create", "-f", fmt, p.toString(), "1M");
            assertEquals("Image resized.\n", mqb("img", "resize", p.toString(), "+1M"));
            assertTrue(mqb("img", "info", "--output=json", p.toString()).contains("\"virtual-size\": 2097152"));
            refused("Use the --shrink option", "img", "resize", p.toString(), "--", "-512K");
            assertTrue(mqb("img", "info", "--output=json", p.toString()).contains("\"virtual-size\": 2097152"));
            mqb("img", "resize", "--shrink", p.toString(), "--", "-512K");
            assertTrue(mqb("img", "info", "--output=json", p.toString()).contains("\"virtual-size\": 1572864"));
        }
    }

    /**
     * snapshot -c makes an overlay over the image; writes converted into the overlay leave the base
     * alone until commit, after which the base reads as the overlay did.
     */
    @Test
    void snapshotThenCommitPutsTheOverlaysDataIntoTheBase(@TempDir Path dir) throws Exception {
        Path base = dir.resolve("base.raw");
        byte[] before = sampleDisk(base);
        Path top = dir.resolve("top.thin");
        String made = mqb("img", "snapshot", "-c", top.toString(), base.toString());
        assertTrue(made.contains("Snapshot '" + top + "' created"), made);
        String list = mqb("img", "snapshot", "-l", top.toString());
        assertTrue(list.contains("0     thin") && list.contains("1     raw") && list.contains(base.toString()), list);

        Path changes = dir.resolve("changes.raw");
        byte[] after = before.clone();
        Random rnd = new Random(7);
        for (int off : new int[] {0, 3 * MIB + 4096, 20 * MIB}) {
            for (int i = 0; i < 8192; i++) {
                after[off + i] = (byte) (rnd.nextInt(255) + 1);
            }
        }
        Files.write(changes, after);
        // The whole new content into the overlay (-n: into the existing image, zeros as write-zeroes).
        mqb("img", "convert", "-n", "-f", "raw", "-O", "thin", changes.toString(), top.toString());
        assertArrayEquals(before, Files.readAllBytes(base), "the base changed before commit");
        Path topRaw = dir.resolve("top-view.raw");
        mqb("img", "convert", "-O", "raw", top.toString(), topRaw.toString());
        assertArrayEquals(after, Files.readAllBytes(topRaw), "the overlay does not read as written");

        assertEquals("Image committed.\n", mqb("img", "commit", "-d", top.toString()));
        assertArrayEquals(after, Files.readAllBytes(base), "commit -d: the base does not read as the overlay did");
        assertTrue(mqb("img", "map", "--output=json", top.toString()).contains("\"depth\": 0, \"present\": true"),
                "commit -d emptied the overlay");

        Files.write(base, before); // once more, emptying the overlay this time
        assertEquals("Image committed.\n", mqb("img", "commit", top.toString()));
        assertArrayEquals(after, Files.readAllBytes(base), "commit: the base does not read as the overlay did");
        String map = mqb("img", "map", "--output=json", top.toString());
        assertTrue(!map.contains("\"depth\": 0"), "commit left clusters in the overlay: " + map);
        Path view = dir.resolve("top-after.raw");
        mqb("img", "convert", "-O", "raw", top.toString(), view.toString());
        assertArrayEquals(after, Files.readAllBytes(view), "the emptied overlay does not read as the base");
    }

    // ---------------------------------------------------------------------------------------

    /**
     * A 32 MiB raw file with data at 0, 1 MiB + 4 KiB (unaligned to clusters), 3 MiB, 16 MiB and the
     * last 64 KiB, a 64 KiB run of zeros written as data at 8 MiB, and holes between; returns its bytes.
     */
    static byte[] sampleDisk(Path path) throws IOException {
        byte[] all = new byte[32 * MIB];
        Random rnd = new Random(42);
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.truncate(0);
            for (int off : new int[] {0, MIB + 4096, 3 * MIB, 16 * MIB, 32 * MIB - 65536}) {
                byte[] block = new byte[65536];
                for (int i = 0; i < block.length; i++) {
                    block[i] = (byte) (rnd.nextInt(255) + 1);
                }
                System.arraycopy(block, 0, all, off, block.length);
                ch.write(ByteBuffer.wrap(block), off);
            }
            ch.write(ByteBuffer.allocate(65536), 8 * MIB);
        }
        assertEquals(32 * MIB, Files.size(path));
        return all;
    }

    private static String mqb(String... args) {
        MqbRun r = MqbRun.of(args);
        assertEquals(0, r.exitCode(), "mqb " + String.join(" ", args) + " failed:\n" + r.err() + r.out());
        return r.out();
    }

    private static void refused(String message, String... args) {
        MqbRun r = MqbRun.of(args);
        assertEquals(1, r.exitCode(), "mqb " + String.join(" ", args) + " should fail:\n" + r.out());
        assertTrue(r.err().contains(message), "expected '" + message + "' in: " + r.err());
        assertTrue(r.err().startsWith("mqb img: "), r.err());
    }

    private record Result(int exitCode, String output) {}

    private static String qemuImg(Path dir, String... args) throws Exception {
        String[] cmd = new String[args.length + 1];
        cmd[0] = "qemu-img";
        System.arraycopy(args, 0, cmd, 1, args.length);
        Result r = run(dir, 60, cmd);
        assertEquals(0, r.exitCode(), String.join(" ", cmd) + " failed:\n" + r.output());
        return r.output();
    }

    private static Result run(Path dir, long timeoutS, String... command) throws IOException, InterruptedException {
        Path log = Files.createTempFile(dir, "out", ".txt");
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .start();
        try {
            if (!p.waitFor(timeoutS, TimeUnit.SECONDS)) {
                fail(String.join(" ", command) + " did not finish in " + timeoutS + " s:\n" + Files.readString(log));
            }
            return new Result(p.exitValue(), Files.readString(log));
        } finally {
            p.destroyForcibly();
            Files.deleteIfExists(log);
        }
    }
}
