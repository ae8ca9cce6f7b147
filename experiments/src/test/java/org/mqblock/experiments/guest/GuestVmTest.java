package org.mqblock.experiments.guest;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The harness's promise never to hang, kept without a full boot (each test ends within seconds). */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class GuestVmTest {

    @Test
    void qemuThatCannotConnectFailsAtOnceWithItsMessage(@TempDir Path dir) throws Exception {
        GuestImage image = GuestTestSupport.image();
        GuestVm vm = GuestVm.builder(image).name("nobody").disk(new GuestDisk.VhostUser(dir.resolve("none.sock"), 1))
                .cpus(1).script("true\n").timeout(Duration.ofSeconds(60)).workDir(dir).build();
        GuestException e = assertThrows(GuestException.class, vm::run); // the message, not the timeout's, says why
        assertTrue(e.getMessage().contains("before the guest reported"), e.getMessage());
        assertTrue(e.consoleTail().contains("none.sock"), "QEMU's own error is in the tail: " + e.consoleTail());
        assertFalse(Files.exists(dir.resolve("nobody-initrd.cpio")), "the per-run initrd is removed");
    }

    @Test
    void guestPastItsTimeoutIsKilledAndTheTailShown(@TempDir Path dir) throws Exception {
        GuestImage image = GuestTestSupport.image();
        Path img = dir.resolve("d.img");
        try (var ch = java.nio.channels.FileChannel.open(img, java.nio.file.StandardOpenOption.CREATE_NEW,
                java.nio.file.StandardOpenOption.WRITE)) {
            ch.truncate(16 << 20);
        }
        GuestVm vm = GuestVm.builder(image).name("slow")
                .disk(new GuestDisk.InProcess(img, 1, GuestDisk.Aio.THREADS, false)).cpus(1).script("sleep 600\n")
                .timeout(Duration.ofSeconds(2)).workDir(dir).build();
        GuestException e = assertThrows(GuestException.class, vm::run);
        assertTrue(e.getMessage().contains("did not finish within 2 s"), e.getMessage());
        assertTrue(ProcessHandle.allProcesses().noneMatch(p -> p.info().commandLine().orElse("")
                .contains(dir.resolve("slow-initrd.cpio").toString())), "QEMU is gone");
    }

    @Test
    void badSettingsAreRefusedBeforeQemuStarts(@TempDir Path dir) throws Exception {
        GuestImage image = new GuestImage(dir, dir.resolve("vmlinux"), dir.resolve("initramfs.cpio"), "");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GuestVm.builder(image)
                .disk(new GuestDisk.VhostUser(dir.resolve("s"), 4)).cpus(2).script("true").workDir(dir).build());
        assertTrue(e.getMessage().contains("at least as many guest CPUs"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> GuestVm.builder(image).memoryMiB(128).script("true")
                .workDir(dir).build());
        assertTrue(e.getMessage().contains("256 MiB"), e.getMessage());
    }
}
