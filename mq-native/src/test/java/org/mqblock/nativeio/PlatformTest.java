package org.mqblock.nativeio;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class PlatformTest {

    @Test
    void otherPlatformsAreRefusedNamingWhatWasFoundAndWhatIsSupported() {
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                () -> Platform.requireSupported("Mac OS X", "aarch64"));
        assertTrue(e.getMessage().contains("os.name Mac OS X, os.arch aarch64"), e.getMessage());
        assertTrue(e.getMessage().contains(Platform.SUPPORTED), e.getMessage());
        assertThrows(UnsupportedOperationException.class, () -> Platform.requireSupported("Linux", "aarch64"));
        assertThrows(UnsupportedOperationException.class, () -> Platform.requireSupported("Windows 11", "amd64"));
    }

    @Test
    void linuxOnX86_64IsAccepted() {
        assertDoesNotThrow(() -> Platform.requireSupported("Linux", "amd64"));
        assertDoesNotThrow(() -> Platform.requireSupported("Linux", "x86_64"));
        assertTrue(Platform.isSupported(), "these tests run on Linux x86_64 only");
    }
}
