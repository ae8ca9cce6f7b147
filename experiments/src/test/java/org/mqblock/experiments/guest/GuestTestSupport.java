package org.mqblock.experiments.guest;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/**
 * What the real-guest tests share: the repository root, and the guest image, installed and built
 * once per JVM. The tests are skipped only where qemu-system-x86_64 is absent (and could not be
 * installed); anything else missing fails them, with the install or build script's message.
 */
public final class GuestTestSupport {

    /** Written by the first test that prepares the image, under the class lock. */
    private static GuestImage image;
    private static String unavailable;

    private GuestTestSupport() {}

    public static Path repoRoot() {
        Path p = Path.of("").toAbsolutePath();
        while (p != null && !Files.exists(p.resolve("scripts/guest/build-initramfs.sh"))) {
            p = p.getParent();
        }
        if (p == null) {
            fail("cannot find the repository root (scripts/guest/build-initramfs.sh) above "
                    + Path.of("").toAbsolutePath());
        }
        return p;
    }

    /** The guest image; aborts the calling test (skipped) when QEMU is absent and cannot be installed. */
    public static synchronized GuestImage image() throws IOException {
        if (image == null && unavailable == null) {
            try {
                GuestImage.installPeers(repoRoot());
            } catch (IOException e) {
                if (!CpioTest.onPath("qemu-system-x86_64")) {
                    unavailable = "qemu-system-x86_64 is not installed and scripts/guest/install-guest-peers.sh could"
                            + " not install it: " + e.getMessage();
                } else {
                    throw e;
                }
            }
            if (unavailable == null) {
                image = GuestImage.prepare(repoRoot());
            }
        }
        Assumptions.assumeTrue(unavailable == null, unavailable);
        return image;
    }
}
