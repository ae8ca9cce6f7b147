package org.mqblock.experiments.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.mqblock.block.BlockOptions;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.block.BlockDrivers;
import org.mqblock.core.loop.IOThread;
import org.mqblock.core.loop.PollWindow;
import org.mqblock.experiments.MachineInfo;
import org.mqblock.nativeio.EpollMonitor;
import org.mqblock.vhost.VhostUserBlkExport;
import org.mqblock.vhost.VhostUserBlkOptions;
import org.mqblock.experiments.MiniJson;

/**
 * {@code mqb run --target vhost-user:SOCK} against qemu-storage-daemon: the job machinery drives
 * the front-end, one virtqueue per job, and verify checks every block it reads (stamped by our
 * writes, stored by QEMU in a file).
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class VhostUserJobTest {

    static void needsQsd() {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/qemu-storage-daemon")),
                "qemu-storage-daemon is not installed (Debian: apt-get install qemu-system-common)");
    }

    private static JobSpec job(Path socket) {
        return JobSpec.defaults().toBuilder().times(400, 100).pin(false).size(0).target("vhost-user:" + socket).build();
    }

    @ParameterizedTest(name = "{0} eventIdx={1} polling={2}")
    @CsvSource({"RANDRW,true,false", "RANDRW,false,false", "RANDWRITE,true,true", "RANDREAD,true,false"})
    void verifiedJobsOverTwoQueuesAreClean(Rw rw, boolean eventIdx, boolean polling) throws Exception {
        Path image = Files.createTempFile(Path.of("/dev/shm"), "mqb-job-", ".img");
        try (RandomAccessFile raf = new RandomAccessFile(image.toFile(), "rw")) {
            raf.setLength(8L << 20);
        }
        try (Qsd qsd = Qsd.start("driver=file,node-name=disk0,filename=" + image + ",aio=threads", 2)) {
            JobSpec spec = job(qsd.socket).toBuilder().rw(rw).numjobs(2).iodepth(16).verify(true).eventIdx(eventIdx)
                    .guestPoll(polling).build();
            JobResult r = JobRunner.run(spec);
            assertTrue(r.ok(), () -> r.verifyFailures() + " errors " + r.errors());
            assertEquals(8L << 20, r.spec().size(), "size 0: the backend's capacity");
            long blocks = (8L << 20) / 4096;
            assertTrue(r.verifiedBlocks() >= (rw.reads() ? r.read().ios() : 0) + 1, "checked " + r.verifiedBlocks());
            assertTrue(r.verifiedBlocks() <= r.read().ios() + 2 * blocks + 64 * 1024, "checked " + r.verifiedBlocks());
            assertEquals(0, r.verifyFailureCount());
            assertEquals(2, r.threads().stream().filter(t -> t.role().equals("submitter")).count());
            assertTrue(r.kicks() > 0);
            assertEquals(polling, r.interrupts() == 0, "polling takes no interrupts; waiting takes some");
        } finally {
            Files.deleteIfExists(image);
        }
    }

    /**
     * The same verified jobs against our own export (mqb serve's vhost-user-blk, here in this JVM on
     * two IOThreads over a raw file in /dev/shm): every block read is checked, none fails.
     */
    @ParameterizedTest(name = "{0} eventIdx={1} polling={2} iothreads={3}")
    @CsvSource({"RANDRW,true,false,2", "RANDRW,false,false,2", "RANDWRITE,true,true,1", "RANDREAD,true,false,1"})
    void verifiedJobsAgainstOurExportAreClean(Rw rw, boolean eventIdx, boolean polling, int iothreads,
                                              @TempDir Path dir) throws Exception {
        Path image = Files.createTempFile(Path.of("/dev/shm"), "mqb-job-ours-", ".img");
        try (RandomAccessFile raf = new RandomAccessFile(image.toFile(), "rw")) {
            raf.setLength(8L << 20);
        }
        List<IOThread> threads = new ArrayList<>();
        VhostUserBlkExport export = null;
        try {
            for (int i = 0; i < iothreads; i++) {
                threads.add(IOThread.start("io" + i, IOThread.UNPINNED, PollWindow.DEFAULT_MAX_NS, EpollMonitor.FACTORY));
            }
            BlockDriver driver = BlockDrivers.open(BlockOptions.parse("driver=file,filename=" + image));
            VhostUserBlkOptions o = VhostUserBlkOptions.parse("vhost-user-blk,addr.path=" + dir.resolve("vhost.sock")
                    + ",num-queues=2,writable=on");
            export = VhostUserBlkExport.start(o, driver, threads, m -> { }, false);
            JobSpec spec = job(export.socketPath()).toBuilder().rw(rw).numjobs(2).iodepth(16).verify(true)
                    .eventIdx(eventIdx).guestPoll(polling).build();
            JobResult r = JobRunner.run(spec);
            assertTrue(r.ok(), () -> r.verifyFailures() + " errors " + r.errors());
            assertEquals(8L << 20, r.spec().size());
            assertTrue(r.verifiedBlocks() > 0, "checked " + r.verifiedBlocks());
            assertEquals(0, r.verifyFailureCount());
            assertEquals(ProcessHandle.current().pid(), r.backend().pid(), "the export is this process");
            assertTrue(export.awaitIdle(30, TimeUnit.SECONDS), "the export saw the front-end go");
            assertFalse(export.device().isBroken(), export.device().brokenReason());
        } finally {
            if (export != null) {
                export.close();
            }
            for (IOThread t : threads) {
                t.close();
                assertEquals(0, t.failureCount(), t.id() + " saw " + t.firstFailure());
            }
            Files.deleteIfExists(image);
        }
    }

    @Test
    void fioJsonNamesTheTarget() throws Exception {
        needsQsd();
        try (Qsd qsd = Qsd.start("driver=null-co,node-name=disk0,size=67108864,read-zeroes=off", 1)) {
            JobResult r = JobRunner.run(job(qsd.socket).toBuilder().iodepth(8).build());
            assertTrue(r.ok());
            assertTrue(r.read().ios() > 0);
            Object doc = MiniJson.parse(FioJson.write(r, MachineInfo.current(), 1_700_000_000_000L));
            Map<?, ?> o = (Map<?, ?>) MiniJson.at(doc, "jobs", 0, "job options");
            assertEquals("mqblock-vhost-user", o.get("ioengine"));
            assertEquals("vhost-user:" + qsd.socket, o.get("target"));
            assertEquals("64m", o.get("size"), "fio spells sizes 64m");
            assertEquals(r.read().ios(), ((Double) MiniJson.at(doc, "jobs", 0, "read", "total_ios")).longValue());
            assertEquals(qsd.process.pid(), r.backend().pid(), "the backend's CPU is read from the daemon's /proc entry");
            assertEquals((double) qsd.process.pid(), MiniJson.at(doc, "mqblock", "backend", "pid"));
            MiniJson.at(doc, "mqblock", "backend", "cpu_us_per_io");
        }
    }

    @Test
    void moreJobsThanTheBackendHasQueuesIsRefused() throws Exception {
        needsQsd();
        try (Qsd qsd = Qsd.start("driver=null-co,node-name=disk0,size=67108864", 1)) {
            Exception e = assertThrows(RuntimeException.class, () -> JobRunner.run(job(qsd.socket).toBuilder().numjobs(2).build()));
            assertTrue(e.getMessage().contains("asked for 2 queues; the backend has 1"), e.getMessage());
        }
    }

    /** qemu-storage-daemon with one vhost-user-blk export of node disk0. */
    static final class Qsd implements AutoCloseable {
        final Process process;
        final Path dir;
        final Path socket;

        private Qsd(Process process, Path dir, Path socket) {
            this.process = process;
            this.dir = dir;
            this.socket = socket;
        }

        static Qsd start(String blockdev, int queues) throws IOException, InterruptedException {
            Path dir = Files.createTempDirectory("mqb-qsd-");
            Path socket = dir.resolve("vhost.sock");
            Process p = new ProcessBuilder("qemu-storage-daemon", "--blockdev", blockdev, "--export",
                    "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=" + socket
                            + ",writable=on,num-queues=" + queues)
                    .redirectErrorStream(true).redirectOutput(dir.resolve("qsd.log").toFile()).start();
            Qsd q = new Qsd(p, dir, socket);
            for (int i = 0; i < 2000 && !Files.exists(socket); i++) {
                if (!p.isAlive()) {
                    p.waitFor();
                    String log = Files.readString(dir.resolve("qsd.log"));
                    q.close();
                    throw new IOException("qemu-storage-daemon exited: " + log);
                }
                Thread.sleep(10);
            }
            return q;
        }

        @Override
        public void close() throws InterruptedException {
            process.destroy();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
            }
            try (var s = Files.walk(dir)) {
                s.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            } catch (IOException ignored) {
                // left in /tmp
            }
        }
    }
}
