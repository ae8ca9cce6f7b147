package org.mqblock.experiments;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Ctrl-C (SIGINT) or SIGTERM to a real {@code mqb run} child process in the middle of a 60 s job:
 * it says it is terminating, prints the summary and writes the JSON of what it measured, marked
 * interrupted, and exits with fio's 128, long before the job would have ended.
 */
class InterruptedRunTest {

    @ParameterizedTest
    @ValueSource(strings = {"INT", "TERM"})
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void aSignalEndsTheWindowAndWhatWasMeasuredIsReported(String signal, @TempDir Path dir) throws Exception {
        Path out = dir.resolve("out.txt");
        Path err = dir.resolve("err.txt");
        Path json = dir.resolve("run.json");
        Process p = MqbProcess.start(dir, out, err, "run", "--runtime", "60", "--ramp-time", "0", "--size", "8m",
                "--pin", "off", "--rw", "randrw", "--eta", "always", "--output", json.toString());
        // Wait (bounded) for the first status line: the window has begun.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!Files.readString(out).contains("Jobs: 1 (f=1)") && System.nanoTime() < deadline && p.isAlive()) {
            Thread.sleep(100);
        }
        assertTrue(Files.readString(out).contains("Jobs: 1 (f=1): [m(1)]"), Files.readString(out) + Files.readString(err));
        Process kill = new ProcessBuilder("kill", "-" + signal, String.valueOf(p.pid())).inheritIO().start();
        assertTrue(kill.waitFor(10, TimeUnit.SECONDS));
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "mqb run did not end after SIG" + signal);
        String stdout = Files.readString(out);
        String stderr = Files.readString(err);
        assertEquals(128, p.exitValue(), stdout + stderr);
        int number = signal.equals("INT") ? 2 : 15;
        assertTrue(stderr.contains("mqb: terminating on signal " + number), stderr);
        assertTrue(stdout.matches("(?s).*read: IOPS=\\d.*write: IOPS=\\d.*Run status group 0.*interrupted.*"), stdout);
        Object doc = MiniJson.parse(Files.readString(json));
        assertEquals(Boolean.TRUE, MiniJson.at(doc, "interrupted"));
        double runtimeMs = (Double) MiniJson.at(doc, "jobs", 0, "job_runtime");
        assertTrue(runtimeMs > 0 && runtimeMs < 60_000, "measured until the signal: " + runtimeMs + " ms");
        double ios = (Double) MiniJson.at(doc, "jobs", 0, "read", "total_ios");
        assertTrue(ios > 0, "what was measured is there");
        double binned = ((java.util.Map<?, ?>) MiniJson.at(doc, "jobs", 0, "read", "clat_ns", "bins")).values().stream()
                .mapToDouble(v -> (Double) v).sum();
        assertEquals(ios, binned, "every measured request is in the bins once");
    }
}
