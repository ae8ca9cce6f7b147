package org.mqblock.experiments;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Commands run in this JVM and may start IOThreads and servers: each test has a @Timeout. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class MqbCommandTest {

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void demoPrintsMeasuredFiguresForBothFigures() {
        MqbRun r = MqbRun.of("demo", "--seconds", "0.05");
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("machine: "), r.out());
        assertTrue(r.out().matches("(?s).*one-shot .*: +\\d+\\.\\d+ M schedule-to-run/s.*"), r.out());
        assertTrue(r.out().matches("(?s).*0 \\(blocking\\) +\\d+\\.\\d+ +\\d+\\.\\d+.*"), r.out());
        assertTrue(r.out().matches("(?s).*32768 \\(adaptive\\) +\\d+\\.\\d+.*"), r.out());
        assertTrue(r.out().contains("blocking / adaptive p50"), r.out());
        assertTrue(r.out().matches("(?s).*epoll_pwait2 \\+ eventfd +0 \\(blocking\\) +\\d+\\.\\d+.*"), r.out());
        assertTrue(r.out().matches("(?s).*3\\. An idle IOThread.*epoll_pwait2 \\+ eventfd +\\d+\\.\\d+ ms CPU.*"), r.out());
    }

    @Test
    void badOptionValueNamesTheOption() {
        MqbRun r = MqbRun.of("demo", "--seconds", "-1");
        assertNotEquals(0, r.exitCode());
        assertTrue(r.err().contains("--seconds"), r.err());
    }

    @Test
    void unknownOptionIsNamed() {
        MqbRun r = MqbRun.of("demo", "--sekonds", "1");
        assertNotEquals(0, r.exitCode());
        assertTrue(r.err().contains("--sekonds"), r.err());
    }

    @Test
    void machineDescriptionIsJson() {
        MqbRun r = MqbRun.of("machine");
        assertEquals(0, r.exitCode());
        Object doc = MiniJson.parse(r.out());
        assertTrue(MiniJson.at(doc, "cpu_model") instanceof String, r.out());
        assertEquals((double) Runtime.getRuntime().availableProcessors(), ((Number) MiniJson.at(doc, "nproc")).doubleValue());
    }
    @Test
    void runNamesTheBadOptionAndTheAcceptedValues() {
        MqbRun mode = MqbRun.of("run", "--mode", "multi");
        assertEquals(2, mode.exitCode());
        assertTrue(mode.err().contains("--mode") && mode.err().contains("sq-global, sq-iothread, mq"), mode.err());
        MqbRun rw = MqbRun.of("run", "--rw", "randwrit");
        assertTrue(rw.err().contains("--rw") && rw.err().contains("read, write, randread, randwrite, randrw"), rw.err());
        MqbRun backend = MqbRun.of("run", "--backend", "nvme");
        assertTrue(backend.err().contains("--backend") && backend.err().contains("null, memory, file, latency, thin"),
                backend.err());
        MqbRun bs = MqbRun.of("run", "--bs", "4q");
        assertTrue(bs.err().contains("--bs"), bs.err());
        MqbRun odd = MqbRun.of("run", "--bs", "1000");
        assertTrue(odd.err().contains("--bs") && odd.err().contains("multiple of 512"), odd.err());
        MqbRun onOff = MqbRun.of("run", "--defer-call", "maybe");
        assertTrue(onOff.err().contains("--defer-call") && onOff.err().contains("on, off"), onOff.err());
        MqbRun opts = MqbRun.of("run", "--backend-opts", "latency-ms=3", "--runtime", "100ms");
        assertNotEquals(0, opts.exitCode());
        assertTrue(opts.err().contains("latency-ms"), opts.err());
        MqbRun halt = MqbRun.of("run", "--halt-poll-ns", "-1");
        assertTrue(halt.err().contains("--halt-poll-ns: invalid value -1 (must be >= 0; 0 turns halt-polling off)"), halt.err());
        MqbRun cost = MqbRun.of("run", "--guest-cost-ns", "2000000000");
        assertTrue(cost.err().contains("--guest-cost-ns: invalid value 2000000000"), cost.err());
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void runPrintsAFioStyleSummaryAndWritesJson(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        java.nio.file.Path json = dir.resolve("out.json");
        MqbRun r = MqbRun.of("run", "--runtime", "200ms", "--ramp-time", "100ms", "--size", "8m", "--numjobs", "2", "--rw",
                "randrw", "--verify", "on", "--pin", "off", "--output", json.toString());
        assertEquals(0, r.exitCode(), r.err() + r.out());
        assertTrue(r.out().matches("(?s).*read: IOPS=\\d+.*write: IOPS=\\d+.*"), r.out());
        assertTrue(r.out().contains("verify       : ") && r.out().contains(" 0 failures"), r.out());
        assertTrue(r.out().contains("threads      : iothread0"), r.out());
        Object doc = MiniJson.parse(java.nio.file.Files.readString(json));
        assertEquals("randrw", MiniJson.at(doc, "jobs", 0, "job options", "rw"));
        assertEquals("200000", MiniJson.at(doc, "jobs", 0, "job options", "halt_poll_ns"));
        assertEquals("4000", MiniJson.at(doc, "jobs", 0, "job options", "guest_cost_ns"));
        assertTrue(r.out().matches("(?s).*thread cpu   : [0-9.]+ us/IO in all.* iothread0=\\d+%.* vcpu0=\\d+% vcpu1=\\d+%.*"), r.out());
        Object threads = MiniJson.at(doc, "mqblock", "thread_cpu");
        assertTrue(threads instanceof java.util.List<?> l && !l.isEmpty(), String.valueOf(threads));
    }

    @Test
    void listNamesEveryFigureWithItsRuntime() {
        MqbRun r = MqbRun.of("list");
        assertEquals(0, r.exitCode());
        for (org.mqblock.experiments.figures.Figure f : org.mqblock.experiments.figures.Figures.ALL) {
            assertTrue(r.out().contains(f.id() + " ") && r.out().contains(f.slug()) && r.out().contains(f.claim()), f.id());
        }
    }

    @Test
    void reproduceRefusesAnUnknownFigureNamingTheKnownOnes() {
        MqbRun r = MqbRun.of("reproduce", "F99");
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("F99") && r.err().contains("F1"), r.err());
    }
}
