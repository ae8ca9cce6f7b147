package org.mqblock.block.driver;

import com.sun.nio.file.ExtendedOpenOption;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Assumptions;

/**
 * A directory on a file system that supports O_DIRECT: the test's temporary directory if it does
 * (tmpfs does not), else one under the module's {@code target/}; the test is skipped, saying why,
 * only when neither does.
 */
final class DirectIoDir {

    private DirectIoDir() {}

    static Path find(Path tempDir) throws IOException {
        Path fallback = Path.of("target", "odirect-tmp").toAbsolutePath();
        StringBuilder why = new StringBuilder();
        for (Path dir : new Path[] {tempDir, fallback}) {
            Files.createDirectories(dir);
            Path probe = Files.createTempFile(dir, "probe", ".raw");
            try (FileChannel ch = FileChannel.open(probe, StandardOpenOption.READ, StandardOpenOption.WRITE,
                    ExtendedOpenOption.DIRECT)) {
                return dir;
            } catch (IOException | UnsupportedOperationException e) {
                why.append(dir).append(": ").append(e.getMessage()).append("; ");
            } finally {
                Files.deleteIfExists(probe);
            }
        }
        Assumptions.abort("no file system here supports O_DIRECT (" + why + ")");
        throw new AssertionError("unreachable");
    }
}
