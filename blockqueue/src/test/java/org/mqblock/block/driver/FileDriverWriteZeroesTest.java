package org.mqblock.block.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.mqblock.block.BlockBackend;
import org.mqblock.block.BlockStatus;
import org.mqblock.block.TestIo;
import org.mqblock.core.loop.IOThread;

/** Found by {@code mqb img commit -d}: write-zeroes reused its bounce buffer with the limit the last, shorter piece left. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FileDriverWriteZeroesTest {

    @Test
    void writeZeroesOfAnySizeAfterASmallerOneSucceeds(@TempDir Path dir) throws Exception {
        Path image = dir.resolve("disk.raw");
        try (IOThread io = IOThread.start("zeroes", IOThread.UNPINNED);
             BlockBackend b = BlockBackend.open("f", "driver=file,filename=" + image + ",size=8M", List.of(io.context()))) {
            assertEquals(BlockStatus.OK, TestIo.write(b.queue(0), 0, TestIo.pattern(4 << 20, 3)));
            // 1 MiB + 512: the last piece leaves the reused buffer's limit at 512
            assertEquals(BlockStatus.OK, TestIo.writeZeroes(b.queue(0), 5 << 20, (1 << 20) + 512));
            assertEquals(BlockStatus.OK, TestIo.writeZeroes(b.queue(0), 0, 512));
            assertEquals(BlockStatus.OK, TestIo.writeZeroes(b.queue(0), 4096, 3 << 20), "a larger write-zeroes after a smaller");
            assertEquals(BlockStatus.OK, TestIo.flush(b.queue(0)));
        }
        byte[] raw = Files.readAllBytes(image);
        for (int i = 0; i < 512; i++) {
            assertEquals(0, raw[i], "byte " + i);
        }
        for (int i = 4096; i < 4096 + (3 << 20); i++) {
            if (raw[i] != 0) {
                throw new AssertionError("byte " + i + " is " + raw[i] + ", not zero");
            }
        }
        assertEquals(TestIo.pattern(4 << 20, 3).get(600), raw[600], "bytes outside the zeroed ranges kept");
    }
}
