package org.mqblock.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The server against real clients from Debian: nbdinfo (libnbd-bin), qemu-img and qemu-io
 * (qemu-utils), fio's nbd engine. {@code scripts/install-nbd-peers.sh} installs whichever is
 * missing before the first test; when it cannot (no apt, no network, no root), every test here
 * fails with its message rather than being skipped, since these are the tests that show the
 * server interoperates.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class RealClientsTest {

    private record Result(int exitCode, String output) {}

    @BeforeAll
    static void installPeers() throws Exception {
        Path script = repoRoot().resolve("scripts/install-nbd-peers.sh");
        assertTrue(Files.isExecutable(script), script + " is missing or not executable");
        Result r = run(Files.createTempDirectory("nbd-peers"), 900, script.toString());
        if (r.exitCode() != 0) {
            fail("could not install the NBD peer tools (libnbd-bin qemu-utils fio nbdkit), exit " + r.exitCode()
                    + ":\n" + r.output());
        }
    }

    private static Path repoRoot() {
        Path p = Path.of("").toAbsolutePath();
        while (p != null && !Files.exists(p.resolve("scripts/install-nbd-peers.sh"))) {
            p = p.getParent();
        }
        if (p == null) {
            fail("cannot find the repository root (scripts/install-nbd-peers.sh) above " + Path.of("").toAbsolutePath());
        }
        return p;
    }

    /** Runs a command in {@code dir}, output and errors together; killed after {@code timeoutS}. */
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
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
    }

    private static String ok(Path dir, long timeoutS, String... command) throws Exception {
        Result r = run(dir, timeoutS, command);
        assertEquals(0, r.exitCode(), String.join(" ", command) + " failed:\n" + r.output());
        return r.output();
    }

    private static String uri(NbdFixture f) {
        return "nbd://127.0.0.1:" + f.tcp.getPort() + "/disk";
    }

    @Test
    void nbdinfoListsTheExportOverTcpAndUnixSocket(@TempDir Path dir) throws Exception {
        try (NbdFixture f = new NbdFixture("driver=memory,size=64M,queues=4")) {
            Path sock = dir.resolve("nbd.sock");
            f.listenUnix(sock);
            String tcp = ok(dir, 60, "nbdinfo", "--list", "nbd://127.0.0.1:" + f.tcp.getPort());
            assertTrue(tcp.contains("export=\"disk\""), tcp);
            assertTrue(tcp.contains("export-size: 67108864"), tcp);
            assertTrue(tcp.contains("can_multi_conn: true"), tcp);
            String unix = ok(dir, 60, "nbdinfo", "--list", "nbd+unix:///?socket=" + sock);
            assertTrue(unix.contains("export=\"disk\""), unix);
            assertTrue(f.log.isEmpty(), f.log.toString());
        }
    }

    @Test
    void qemuImgConvertInAndOutIsByteIdentical(@TempDir Path dir) throws Exception {
        int size = 16 << 20;
        byte[] data = new byte[size];
        Random rnd = new Random(42);
        for (int i = 0; i < size; i += 1 << 20) {
            if ((i >> 20) % 3 != 1) { // leave some MiB zero, so sparse detection gets exercised too
                byte[] mib = new byte[1 << 20];
                rnd.nextBytes(mib);
                System.arraycopy(mib, 0, data, i, mib.length);
            }
        }
        Path in = dir.resolve("in.img");
        Path out = dir.resolve("out.img");
        Files.write(in, data);
        try (NbdFixture f = new NbdFixture("driver=memory,size=" + size + ",queues=4")) {
            ok(dir, 120, "qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", in.toString(), uri(f));
            ok(dir, 120, "qemu-img", "convert", "-f", "raw", "-O", "raw", uri(f), out.toString());
            ok(dir, 60, "cmp", in.toString(), out.toString());
            assertArrayEquals(data, Files.readAllBytes(out));
            assertTrue(f.log.isEmpty(), f.log.toString());
        }
    }

    @Test
    void qemuIoPatternWriteThenReadVerifies(@TempDir Path dir) throws Exception {
        try (NbdFixture f = new NbdFixture("driver=memory,size=64M,queues=4")) {
            String w = ok(dir, 60, "qemu-io", "-f", "raw", "-c", "write -P 0xab 0 64k", "-c", "write -P 0xcd 1M 64k", uri(f));
            assertTrue(w.contains("wrote 65536/65536 bytes at offset 0"), w);
            String r = ok(dir, 60, "qemu-io", "-f", "raw", "-c", "read -P 0xab 0 64k", "-c", "read -P 0xcd 1M 64k", uri(f));
            assertTrue(r.contains("read 65536/65536 bytes at offset 0"), r);
            assertTrue(r.contains("read 65536/65536 bytes at offset 1048576"), r);
            assertFalse(r.contains("Pattern verification failed"), r);
            String bad = run(dir, 60, "qemu-io", "-f", "raw", "-c", "read -P 0xab 1M 64k", uri(f)).output();
            assertTrue(bad.contains("Pattern verification failed"), "a wrong pattern must be caught: " + bad);
        }
    }

    @Test
    void fioVerifiesCrc32cOverTwoConnections(@TempDir Path dir) throws Exception {
        try (NbdFixture f = new NbdFixture("driver=memory,size=64M,queues=4")) {
            // fio writes *-verify.state files into its working directory: the temp dir.
            List<String> cmd = new ArrayList<>(List.of("fio", "--name=nbdverify", "--ioengine=nbd", "--uri=" + uri(f),
                    "--rw=randwrite", "--bs=4k", "--iodepth=16", "--numjobs=2", "--size=16M", "--offset_increment=16M",
                    "--verify=crc32c", "--do_verify=1", "--verify_fatal=1", "--group_reporting=0"));
            String out = ok(dir, 240, cmd.toArray(String[]::new));
            assertFalse(out.contains("verify: bad"), out);
            assertTrue(out.contains("READ:"), "the verify pass read everything back:\n" + out);
            assertTrue(out.contains("err= 0"), out);
            assertEquals(2, out.split("err= 0", -1).length - 1, "both jobs finish without error:\n" + out);
            assertTrue(f.server.acceptedCount() >= 2, "two connections, got " + f.server.acceptedCount());
            assertTrue(f.log.isEmpty(), f.log.toString());
            assertTrue(Files.list(Path.of("")).noneMatch(p -> p.getFileName().toString().endsWith("verify.state")),
                    "no fio state file in the module directory");
        }
    }

    /**
     * nbdsh is python3 -m nbd: run under Debian's python3, whose python3-libnbd it imports, whatever python3 comes
     * first on the PATH (a pyenv one has no libnbd module).
     */
    private static final String NBDSH = "/usr/bin/python3";

    /** Lines of {@code nbdinfo --map}: offset, length, flags and their names, by whitespace. */
    private static List<String> mapLines(String out) {
        List<String> l = new ArrayList<>();
        for (String line : out.strip().split("\n")) {
            l.add(String.join(" ", line.strip().split("\\s+")));
        }
        return l;
    }

    /**
     * 64 KiB written at 1 MiB: data there, holes reading as zeros around it (the memory driver's
     * granules, the file driver's SEEK_DATA/SEEK_HOLE). The thin driver joins once its block
     * status (branch thin17) is merged.
     */
    @ParameterizedTest
    @ValueSource(strings = {"memory", "file"})
    void nbdinfoMapAndQemuImgMapSeeWhereTheDataIs(String driver, @TempDir Path dir) throws Exception {
        String options = switch (driver) {
            case "file" -> "driver=file,filename=" + dir.resolve("raw.img") + ",size=64M,queues=4";
            default -> "driver=memory,size=64M,queues=4";
        };
        try (NbdFixture f = new NbdFixture(options)) {
            ok(dir, 60, NBDSH, "-m", "nbd", "-u", uri(f), "-c", "h.pwrite(b'x' * 65536, 1 << 20)");
            String map = ok(dir, 60, "nbdinfo", "--map", uri(f));
            assertEquals(List.of("0 1048576 3 hole,zero", "1048576 65536 0 data", "1114112 65994752 3 hole,zero"),
                    mapLines(map), map);
            String json = ok(dir, 60, "qemu-img", "map", "--output=json", "-f", "raw", uri(f));
            String compact = json.replace(" ", "").replace("\n", "");
            assertTrue(compact.contains("{\"start\":0,\"length\":1048576,\"depth\":0,\"present\":true,\"zero\":true,\"data\":false"), json);
            assertTrue(compact.contains("{\"start\":1048576,\"length\":65536,\"depth\":0,\"present\":true,\"zero\":false,\"data\":true"), json);
            assertTrue(compact.contains("{\"start\":1114112,\"length\":65994752,\"depth\":0,\"present\":true,\"zero\":true,\"data\":false"), json);
            assertTrue(f.log.isEmpty(), f.log.toString());
        }
    }

    /**
     * Writes of 16 MiB and more that the server refuses (past the end, a flag writes do not
     * take, past the maximum block size, a read-only export): libnbd gets each error and the same
     * connection then reads fine. libnbd's own checks are off (strict mode 0) so the server is
     * the one to refuse; it must read each payload before answering, or libnbd drops the
     * connection ("no matching cookie found for server reply").
     */
    @Test
    void refusedLargeWritesKeepTheLibnbdConnection(@TempDir Path dir) throws Exception {
        String script = String.join("\n",
                "import errno",
                "h.set_strict_mode(0)",
                "size = h.get_size()",
                "def attempt(what, buf, off, flags=0):",
                "    try:",
                "        h.pwrite(buf, off, flags)",
                "        print(what, 'accepted')",
                "    except nbd.Error as e:",
                "        print(what, errno.errorcode.get(e.errnum))",
                "    print(what, 'then read', len(h.pread(4096, 0)))",
                "attempt('past-end', b'x' * (16 << 20), size - 4096)",
                "attempt('bad-flag', b'x' * (16 << 20), 0, nbd.CMD_FLAG_DF)",
                "attempt('too-big', b'x' * (33 << 20), 0)",
                "");
        try (NbdFixture f = new NbdFixture(2, "disk", "driver=memory,size=64M,queues=2",
                "ro:ro", "driver=memory,size=64M,queues=2")) {
            Path py = dir.resolve("refused.py");
            Files.writeString(py, script);
            String rw = ok(dir, 120, NBDSH, "-m", "nbd", "-u", uri(f), "-c", "exec(open('" + py + "').read())");
            assertEquals(List.of("past-end ENOSPC", "past-end then read 4096", "bad-flag EINVAL", "bad-flag then read 4096",
                    "too-big EINVAL", "too-big then read 4096"), List.of(rw.strip().split("\n")), rw);
            String roScript = script.replace("attempt('bad-flag'", "#").replace("attempt('too-big'", "#")
                    .replace("attempt('past-end', b'x' * (16 << 20), size - 4096)", "attempt('read-only', b'x' * (16 << 20), 0)");
            Files.writeString(py, roScript);
            String ro = ok(dir, 120, NBDSH, "-m", "nbd", "-u", "nbd://127.0.0.1:" + f.tcp.getPort() + "/ro", "-c",
                    "exec(open('" + py + "').read())");
            assertEquals(List.of("read-only EPERM", "read-only then read 4096"), List.of(ro.strip().split("\n")), ro);
        }
    }

    /**
     * Byte-granular I/O, as qemu-nbd and nbdkit take it: the export advertises a minimum block
     * size of 1 (the block layer pads what the driver cannot take), libnbd reads and writes
     * single bytes at odd offsets with its own checks on, and fio writes and verifies 1000-byte
     * blocks (every one unaligned to 512) over two connections.
     */
    @Test
    void oneByteLibnbdOpsAndFioWith1000ByteBlocksWork(@TempDir Path dir) throws Exception {
        try (NbdFixture f = new NbdFixture("driver=memory,size=64M,queues=4")) {
            String out = ok(dir, 60, NBDSH, "-m", "nbd", "-u", uri(f), "-c", String.join("; ",
                    "print(h.get_block_size(nbd.SIZE_MINIMUM))",
                    "h.pwrite(b'\\xab', 1001)",
                    "h.pwrite(b'xyz', 4095)",
                    "print(h.pread(1, 1001).hex(), h.pread(5, 4094).hex())"));
            assertEquals(List.of("1", "ab 0078797a00"), List.of(out.strip().split("\n")), out);
            String fio = ok(dir, 240, "fio", "--name=odd", "--ioengine=nbd", "--uri=" + uri(f), "--rw=randwrite",
                    "--bs=1000", "--iodepth=8", "--numjobs=2", "--size=1000000", "--offset_increment=1000000",
                    "--verify=crc32c", "--do_verify=1", "--verify_fatal=1", "--group_reporting=0");
            assertFalse(fio.contains("verify: bad"), fio);
            assertEquals(2, fio.split("err= 0", -1).length - 1, "both jobs finish without error:\n" + fio);
            assertTrue(fio.contains("bs=(R) 1000B-1000B"), fio);
            assertTrue(f.log.isEmpty(), f.log.toString());
        }
    }
}
