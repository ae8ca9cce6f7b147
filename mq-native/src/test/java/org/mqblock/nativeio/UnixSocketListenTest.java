package org.mqblock.nativeio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A listener's path appears only once it accepts, never replaces another's, and leaves nothing behind. */
class UnixSocketListenTest {

    /**
     * A client that waits for the socket file and connects at once must never be refused: the
     * file appears after listen(2), not at bind(2). A watcher thread connects the moment the path
     * exists, over many listeners.
     */
    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void aClientThatSeesThePathIsNeverRefused(@TempDir Path dir) throws Exception {
        int rounds = 300;
        AtomicInteger refused = new AtomicInteger();
        for (int i = 0; i < rounds; i++) {
            Path path = dir.resolve("s" + i);
            Thread watcher = new Thread(() -> {
                while (!Files.exists(path)) {
                    Thread.onSpinWait();
                }
                try (UnixSocket c = UnixSocket.connect(path)) {
                    // connected
                } catch (NativeException e) {
                    refused.incrementAndGet();
                }
            });
            watcher.start();
            try (UnixSocket server = UnixSocket.listen(path, 4)) {
                watcher.join(TimeUnit.SECONDS.toMillis(30));
                assertFalse(watcher.isAlive(), "the watcher connected");
            }
        }
        assertEquals(0, refused.get(), "connections refused between bind and listen");
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void anExistingPathIsRefusedAndKept(@TempDir Path dir) throws IOException {
        Path path = dir.resolve("taken");
        try (UnixSocket first = UnixSocket.listen(path, 4)) {
            NativeException e = assertThrows(NativeException.class, () -> UnixSocket.listen(path, 4));
            assertTrue(e.getMessage().contains("EADDRINUSE"), e.getMessage());
            try (UnixSocket c = UnixSocket.connect(path)) {
                assertTrue(first.accept() != null, "the first listener still owns the path");
            }
        }
        assertFalse(Files.exists(path), "close removes the path");
        try (Stream<Path> left = Files.list(dir)) {
            assertEquals(0, left.count(), "no staging name left behind");
        }
    }
}
