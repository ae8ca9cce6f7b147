package org.mqblock.experiments.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class GuestBenchTest {

    static GuestBench.Config config(List<GuestBench.Kind> kinds, int queues, int cpus, Map<String, String> job) {
        return new GuestBench.Config(kinds, queues, cpus, queues, job, 1, 64L << 20, GuestDisk.Aio.IO_URING, true, 1.5,
                Duration.ofMinutes(2), Path.of("/tmp/x"), Path.of("/tmp"), List.of());
    }

    @Test
    void jobOptionsOverrideTheDefaultsAndNumjobsFollowsTheQueues() {
        GuestBench.Config c = config(List.of(GuestBench.Kind.QSD), 2, 2, Map.of("rw", "randwrite", "bs", "16k"));
        Map<String, String> o = c.fioOptions();
        assertEquals("randwrite", o.get("rw"));
        assertEquals("16k", o.get("bs"));
        assertEquals("2", o.get("numjobs"));
        assertEquals("0-1", o.get("cpus_allowed"));
        assertEquals("/dev/vda", o.get("filename"));
        String script = new GuestBench(c, System.out).script();
        assertTrue(script.contains("--rw=randwrite") && script.contains("--numjobs=2"), script);
        assertTrue(script.contains("--runtime=1.5 --time_based=1"), "the warm-up: " + script);
        assertTrue(script.indexOf("mqb_result stat-start") < script.indexOf("mqb_mark start")
                && script.indexOf("mqb_mark end") < script.indexOf("mqb_result stat-end"),
                "the disk's counters are read outside the marks, so the window holds every request counted: " + script);
    }

    @Test
    void badConfigurationsAreNamedBeforeAnythingStarts() {
        assertMessage("--backend", () -> config(List.of(), 2, 2, Map.of()));
        assertMessage("--backend", () -> config(List.of(GuestBench.Kind.QSD, GuestBench.Kind.QSD), 2, 2, Map.of()));
        assertMessage("--queues", () -> config(List.of(GuestBench.Kind.QSD), 0, 2, Map.of()));
        assertMessage("--cpus", () -> config(List.of(GuestBench.Kind.QSD), 2, 1, Map.of()));
        assertMessage("--job", () -> config(List.of(GuestBench.Kind.QSD), 2, 2, Map.of("rw", "rand read")));
        assertMessage("--job", () -> config(List.of(GuestBench.Kind.QSD), 2, 2, Map.of("rw;reboot", "x")));
        assertMessage("unknown backend 'nbd'", () -> GuestBench.Kind.parse("nbd"));
    }

    @Test
    void requestsAreCountedFromTheGuestsDiskStat() {
        assertEquals(1 + 2 + 3 + 4, GuestBench.ios("read_ios 1\nwrite_ios 2\ndiscard_ios 3\nflush_ios 4\n"));
    }

    @Test
    void spreadIsMedianAndRangeIgnoringMissingValues() {
        GuestBench.Spread s = GuestBench.Spread.of(List.of(3.0, Double.NaN, 1.0, 2.0, 10.0));
        assertEquals(2.5, s.median(), 1e-9);
        assertEquals(1.0, s.min(), 1e-9);
        assertEquals(10.0, s.max(), 1e-9);
        assertTrue(Double.isNaN(GuestBench.Spread.of(List.of(Double.NaN)).median()));
    }

    private static void assertMessage(String part, org.junit.jupiter.api.function.Executable e) {
        IllegalArgumentException x = assertThrows(IllegalArgumentException.class, e);
        assertTrue(x.getMessage().contains(part), x.getMessage());
    }
}
