package org.mqblock.experiments.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.mqblock.experiments.MachineInfo;
import org.mqblock.experiments.MiniJson;
import org.mqblock.virtio.VirtioBlkRig;
import org.mqblock.virtio.VirtioBlkRig.Mode;

@Timeout(value = 2, unit = TimeUnit.MINUTES)
class JobRunnerTest {

    private static JobSpec shortJob() {
        return JobSpec.defaults().toBuilder().times(300, 100).size(8L << 20).pin(false).build();
    }

    @ParameterizedTest
    @EnumSource(Mode.class)
    void verifiedRandomReadWriteIsCleanInEveryMode(Mode mode) {
        JobResult r = JobRunner.run(shortJob().toBuilder().mode(mode).numjobs(2).rw(Rw.RANDRW).verify(true).build());
        assertTrue(r.ok(), () -> r.verifyFailures() + " errors " + r.errors());
        assertTrue(r.read().ios() > 0 && r.write().ios() > 0);
        // Every block written by prefill, then checked on each read and once more at the end: at
        // least the window's reads plus one read-back per block (ramp and drain reads add more).
        long blocks = (8L << 20) / 4096;
        assertTrue(r.verifiedBlocks() >= r.read().ios() + blocks,
                "checked " + r.verifiedBlocks() + ", window reads " + r.read().ios() + ", blocks " + blocks);
        assertEquals(0, r.verifyFailureCount());
        assertEquals(mode == Mode.MQ ? 2 : 1, r.threads().stream().filter(t -> t.role().equals("iothread")).count());
        assertEquals(2, r.threads().stream().filter(t -> t.role().equals("vcpu")).count());
    }

    /**
     * Every thread that serves the job, the device's (IOThreads or sq-global's main loop) and
     * each vCPU, has its own CPU over the window, read from /proc/self/task while it still runs;
     * the process's CPU per I/O is the whole process's time over the requests.
     */
    @ParameterizedTest
    @EnumSource(Mode.class)
    void everyDeviceThreadAndVcpuHasItsCpuOverTheWindow(Mode mode) {
        // Ticks are 1/100 s: a thread that ran less than one in the window reads 0, so the test asks
        // only that each is there (alive at both snapshots), which a thread gone before the end is not.
        JobResult r = JobRunner.run(shortJob().toBuilder().mode(mode).numjobs(2).times(600, 100).build());
        assertTrue(r.ok());
        List<String> measured = r.jvm().threads().stream().map(BackendCpu.ThreadCpu::name).toList();
        for (JobResult.ThreadPlacement t : r.threads()) { // listed even if it ran less than a tick
            assertTrue(measured.contains(t.name()), t.name() + " has no CPU over the window: " + measured);
        }
        long jvmTicks = r.jvm().usrTicks() + r.jvm().sysTicks();
        assertTrue(jvmTicks > 0, "the process ran");
        assertEquals(jvmTicks * 10_000.0 / r.totalIos(), r.cpuUsPerIo(), 1e-9);
        assertTrue(r.busiestDeviceThreadPercent() >= 0 && r.deviceCpuUsPerIo() >= 0);
    }

    @ParameterizedTest
    @EnumSource(value = Backend.class, names = {"FILE", "THIN", "LATENCY"})
    void verifiedWritesReadBackOnEveryBackend(Backend b) {
        JobResult r = JobRunner.run(shortJob().toBuilder().backend(b, "").rw(Rw.RANDWRITE).verify(true).iodepth(8).build());
        assertTrue(r.ok(), () -> r.verifyFailures() + " errors " + r.errors());
        assertTrue(r.write().ios() > 0);
        assertEquals(0, r.read().ios(), "a write job measures no reads (its read-back is not measured)");
        // Without reads in the job, the only checks are the read-back: one per block written.
        assertTrue(r.verifiedBlocks() > 0 && r.verifiedBlocks() <= (8L << 20) / 4096, "checked " + r.verifiedBlocks());
    }

    /**
     * A verified read job checks every read it makes, exactly once: the guest driver's own count
     * of completions (prefill writes, then only reads) less the prefill is the number of reads,
     * and every block was prefilled, so each of them must have been checked.
     */
    @ParameterizedTest
    @EnumSource(value = Backend.class, names = {"MEMORY", "FILE", "THIN", "LATENCY"})
    void verifiedReadsCheckEveryReadExactlyOnce(Backend b) {
        AtomicReference<VirtioBlkRig> rig = new AtomicReference<>();
        JobSpec spec = shortJob().toBuilder().backend(b, "").rw(Rw.RANDREAD).numjobs(2).verify(true).build();
        JobResult r = JobRunner.run(spec, (running, end) -> rig.set(running));
        assertTrue(r.ok(), () -> r.verifyFailures() + " errors " + r.errors());
        long blocks = spec.size() / spec.bs();
        long completions = rig.get().vcpu(0).completed() + rig.get().vcpu(1).completed();
        long reads = completions - blocks; // the prefill wrote each block once
        assertTrue(r.read().ios() > 0, "the window measured reads");
        assertEquals(reads, r.verifiedBlocks(), "reads checked");
        assertEquals(0, r.verifyFailureCount());
    }

    @Test
    void sequentialReadsCountEveryCompletionOnce() {
        JobResult r = JobRunner.run(shortJob().toBuilder().rw(Rw.READ).backend(Backend.NULL, "").bs(64 * 1024).build());
        assertTrue(r.ok());
        assertEquals(r.read().ios() * 64 * 1024, r.read().bytes());
        assertEquals(r.read().ios(), r.read().latNs().getTotalCount());
        assertEquals(r.read().ios(), r.read().clatNs().getTotalCount());
    }

    @Test
    void driverErrorsAreCountedNotHidden() {
        JobResult r = JobRunner.run(shortJob().toBuilder().backend(Backend.LATENCY, "latency-us=1,error-rate=0.5").build());
        assertTrue(r.read().errors() > 0, "half the requests fail");
        assertFalse(r.ok());
    }

    @Test
    void fioJsonHasTheFieldsFioToolsRead(@TempDir Path dir) {
        JobResult r = JobRunner.run(shortJob().toBuilder().numjobs(2).build());
        Object doc = MiniJson.parse(FioJson.write(r, MachineInfo.current(), 1_700_000_000_000L));
        Map<?, ?> read = (Map<?, ?>) MiniJson.at(doc, "jobs", 0, "read");
        assertEquals(r.read().ios(), ((Double) read.get("total_ios")).longValue());
        assertEquals(r.read().iops(r.runtimeNs()), (Double) read.get("iops"), 1.0);
        for (String k : List.of("io_bytes", "bw_bytes", "bw", "runtime", "slat_ns", "clat_ns", "lat_ns")) {
            assertTrue(read.containsKey(k), k);
        }
        Map<?, ?> bins = (Map<?, ?>) MiniJson.at(doc, "jobs", 0, "read", "clat_ns", "bins");
        long binned = bins.values().stream().mapToLong(v -> ((Double) v).longValue()).sum();
        assertEquals(r.read().ios(), binned, "json+ bins hold every completion");
        assertTrue(((Double) MiniJson.at(doc, "jobs", 0, "read", "clat_ns", "percentile", "99.000000")) > 0);
        assertEquals("2", MiniJson.at(doc, "jobs", 0, "job options", "numjobs"));
        assertEquals("randread", MiniJson.at(doc, "global options", "rw"));
        MiniJson.at(doc, "jobs", 0, "write", "clat_ns", "bins");
        MiniJson.at(doc, "jobs", 0, "trim", "clat_ns", "bins");
        MiniJson.at(doc, "jobs", 0, "usr_cpu");
        assertTrue(((String) MiniJson.at(doc, "mqblock", "machine", "cpu_model")).length() > 0);
        List<?> threads = (List<?>) MiniJson.at(doc, "mqblock", "threads");
        assertEquals(r.threads().size(), threads.size());
        MiniJson.at(doc, "mqblock", "threads", 0, "bound");
    }
}
