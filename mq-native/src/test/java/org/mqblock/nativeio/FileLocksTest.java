package org.mqblock.nativeio;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class FileLocksTest {

    @TempDir
    Path dir;

    @Test
    void aLockIsSeenByAnotherDescriptionInTheSameProcessNotByItsOwner() throws Exception {
        Path f = Files.write(dir.resolve("img"), new byte[512]);
        try (FileLocks a = FileLocks.open(f); FileLocks b = FileLocks.open(f)) {
            assertFalse(b.heldByOthers(101));
            assertTrue(a.lockShared(101));
            assertTrue(b.heldByOthers(101), "OFD locks conflict between descriptions of one process");
            assertFalse(a.heldByOthers(101), "a description's own lock never conflicts with itself");
            assertFalse(b.heldByOthers(100), "locks are per byte");
            assertTrue(b.lockShared(101), "shared locks coexist");
            a.unlock(101);
            b.unlock(101);
            assertFalse(a.heldByOthers(101));
        }
    }

    @Test
    void closingDropsTheLocks() throws Exception {
        Path f = Files.write(dir.resolve("img"), new byte[512]);
        try (FileLocks b = FileLocks.open(f)) {
            FileLocks a = FileLocks.open(f);
            assertTrue(a.lockShared(201));
            assertTrue(b.heldByOthers(201));
            a.close();
            a.close();
            assertFalse(b.heldByOthers(201));
        }
    }

    @Test
    void aMissingFileIsNamed() {
        NativeException e = assertThrows(NativeException.class, () -> FileLocks.open(dir.resolve("nope")));
        assertTrue(e.getMessage().contains("nope") && e.getMessage().contains("ENOENT"), e.getMessage());
    }
}
