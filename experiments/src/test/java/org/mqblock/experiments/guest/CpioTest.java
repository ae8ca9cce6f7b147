package org.mqblock.experiments.guest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

class CpioTest {

    @Test
    void entriesAreNewcWithFourByteAlignmentAndATrailer() {
        byte[] a = new Cpio().file("test.sh", 0755, "echo hi\n".getBytes(StandardCharsets.UTF_8)).finish();
        String s = new String(a, StandardCharsets.US_ASCII);
        assertTrue(s.startsWith(Cpio.MAGIC), s);
        assertEquals(0, a.length % 4, "every entry ends 4-aligned, so the archive does");
        // mode 0100755, filesize 8, namesize 8 ("test.sh" + NUL)
        assertEquals(String.format("%08x", 0100755), s.substring(14, 22));
        assertEquals(String.format("%08x", 8), s.substring(54, 62));
        assertEquals(String.format("%08x", 8), s.substring(94, 102));
        assertEquals("test.sh\0", s.substring(110, 118));
        assertEquals("echo hi\n", s.substring(120, 128), "data starts 4-aligned after the name");
        assertTrue(s.contains(Cpio.TRAILER + "\0"), s);
    }

    @Test
    void absoluteNamesAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new Cpio().file("/test.sh", 0755, new byte[0]));
    }

    /** GNU cpio (which build-initramfs.sh needs anyway) lists and extracts what we wrote. */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void gnuCpioExtractsIt(@TempDir Path dir) throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(onPath("cpio"), "GNU cpio is not installed");
        byte[] body = new byte[1001];
        for (int i = 0; i < body.length; i++) {
            body[i] = (byte) i;
        }
        Path archive = dir.resolve("a.cpio");
        Files.write(archive, new Cpio().file("x.bin", 0644, body).file("t.sh", 0755, "true\n".getBytes()).finish());
        Path into = Files.createDirectories(dir.resolve("out"));
        Process p = new ProcessBuilder("cpio", "-id", "--quiet", "-F", archive.toString()).directory(into.toFile())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        assertArrayEquals(body, Files.readAllBytes(into.resolve("x.bin")));
        assertTrue(Files.isExecutable(into.resolve("t.sh")));
    }

    static boolean onPath(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, tool))) {
                return true;
            }
        }
        return false;
    }
}
