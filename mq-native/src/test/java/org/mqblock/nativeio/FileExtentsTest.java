package org.mqblock.nativeio;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileExtentsTest {

    private static final int BLOCK = 64 << 10; // a multiple of every file system's block size

    @TempDir
    Path dir;

    @Test
    void punchedHoleReadsAsZerosKeepsTheSizeAndSeekFindsIt() throws Exception {
        Path file = dir.resolve("extents");
        byte[] data = new byte[3 * BLOCK];
        Arrays.fill(data, (byte) 7);
        Files.write(file, data);
        try (FileExtents f = FileExtents.open(file, true); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ch.force(true); // allocated on disk before asking where the data is
            assertEquals(0, f.nextData(0));
            assertEquals(3 * BLOCK, f.nextHole(0), "no hole but end-of-file");
            f.punchHole(BLOCK, BLOCK);
            assertEquals(3 * BLOCK, Files.size(file), "KEEP_SIZE");
            assertEquals(BLOCK, f.nextHole(0));
            assertEquals(2 * BLOCK, f.nextData(BLOCK));
            assertEquals(BLOCK + 100, f.nextHole(BLOCK + 100), "inside a hole: the hole is here");
            assertEquals(-1, f.nextData(3 * BLOCK), "at end-of-file: ENXIO, as -1");
            ByteBuffer middle = ByteBuffer.allocate(BLOCK);
            ch.read(middle, BLOCK);
            assertArrayEquals(new byte[BLOCK], middle.array());
            ByteBuffer last = ByteBuffer.allocate(BLOCK);
            ch.read(last, 2 * BLOCK);
            assertTrue(Arrays.equals(Arrays.copyOf(data, BLOCK), last.array()), "the data after the hole is intact");
        }
    }

    @Test
    void failuresNameTheCallTheFileAndTheErrno() throws Exception {
        Path file = dir.resolve("ro");
        Files.write(file, new byte[BLOCK]);
        try (FileExtents f = FileExtents.open(file, false)) {
            NativeException e = assertThrows(NativeException.class, () -> f.punchHole(0, 4096));
            assertEquals("fallocate", e.call());
            assertEquals(9, e.errno(), e.getMessage()); // EBADF: opened read-only
            assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("EBADF"), e.getMessage());
        }
        NativeException missing = assertThrows(NativeException.class, () -> FileExtents.open(dir.resolve("absent"), false));
        assertEquals(2, missing.errno()); // ENOENT
        assertTrue(missing.getMessage().contains("absent"), missing.getMessage());
    }
}
