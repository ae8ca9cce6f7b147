package org.mqblock.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.block.driver.MemoryDriver;
import org.mqblock.core.loop.IOThread;
import org.mqblock.core.loop.PollWindow;
import org.mqblock.nativeio.EpollMonitor;
import org.mqblock.virtio.VirtioBlkSpec;

/**
 * The export's data path, driven by the vhost-user front-end over a real socket, memfds and
 * eventfds: data written over two virtqueues on two IOThreads reads back; a second front-end
 * reads what the first wrote; the memory table changes while requests run; a ring stopped with
 * requests in flight answers only once they completed, none lost; a front-end that hangs up with
 * requests in flight leaves a clean export behind.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class VhostUserBlkExportTest {

    private static final int BS = 4096;
    private static final long BLOCKS = 512; // 2 MiB

    @TempDir
    Path dir;

    private IOThread io0;
    private IOThread io1;
    private VhostUserBlkExport export;
    private final List<String> log = Collections.synchronizedList(new ArrayList<>());

    @BeforeEach
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void threads() {
        io0 = IOThread.start("io0", IOThread.UNPINNED, PollWindow.DEFAULT_MAX_NS, EpollMonitor.FACTORY);
        io1 = IOThread.start("io1", IOThread.UNPINNED, PollWindow.DEFAULT_MAX_NS, EpollMonitor.FACTORY);
    }

    @AfterEach
    @Timeout(value = 90, unit = TimeUnit.SECONDS)
    void stop() throws Exception {
        if (export != null) {
            // On a thread of its own: a close that never ends (a ring that never drains) fails the test, not hangs it.
            CompletableFuture.runAsync(export::close).get(60, TimeUnit.SECONDS);
        }
        io0.close();
        io1.close();
        assertEquals(0, io0.failureCount(), "io0 saw " + io0.firstFailure());
        assertEquals(0, io1.failureCount(), "io1 saw " + io1.firstFailure());
    }

    private VhostUserBlkExport start(String options, BlockDriver driver) {
        VhostUserBlkOptions o = VhostUserBlkOptions.parse("vhost-user-blk,addr.path=" + dir.resolve("vhost.sock") + options);
        export = VhostUserBlkExport.start(o, driver, List.of(io0, io1), log::add, true);
        return export;
    }

    private static VhostUserFrontend.Options frontEnd() {
        return VhostUserFrontend.Options.builder().slots(32).maxBytes(BS).completionTimeoutMs(30_000).build();
    }

    /**
     * Each virtqueue has its BlockQueue on the IOThread the mapping names, and every block
     * written over two queues reads back over them, each request completing exactly once; at the
     * front-end's close, GET_VRING_BASE says each ring took exactly the requests made on it.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "round-robin||io0|io1",
        "explicit, both on io1|,iothread-vq-mapping.0.iothread=io1,iothread-vq-mapping.0.vqs.0=1,"
                + "iothread-vq-mapping.0.vqs.1=0|io1|io1"})
    void writtenBlocksReadBackOverTwoQueuesOnTheirIOThreads(String name, String mapping, String q0, String q1)
            throws Exception {
        start(",num-queues=2,writable=on" + (mapping == null ? "" : mapping), new MemoryDriver(BLOCKS * BS));
        assertSame(thread(q0).context(), export.device().node().queue(0).context(), "vq 0's BlockQueue");
        assertSame(thread(q1).context(), export.device().node().queue(1).context(), "vq 1's BlockQueue");
        VhostUserFrontend f = VhostUserFrontend.connect(export.socketPath(), frontEnd());
        long[] made = new long[2];
        try {
            assertEquals(2, f.queueCount());
            assertEquals(BLOCKS * BS, f.config().capacityBytes());
            assertFalse(f.readOnly());
            FrontendDriver.assertEachBlockOnce(FrontendDriver.pass(f, VirtioBlkSpec.T_OUT, BLOCKS, BS, 32, 1, false), BLOCKS);
            FrontendDriver.assertEachBlockOnce(FrontendDriver.pass(f, VirtioBlkSpec.T_IN, BLOCKS, BS, 32, 1, true), BLOCKS);
            made[0] = f.queue(0).completions();
            made[1] = f.queue(1).completions();
        } finally {
            f.close();
        }
        assertEquals(2 * BLOCKS, made[0] + made[1], "each block written once and read once");
        for (int q = 0; q < 2; q++) {
            assertEquals(made[q] & 0xffff, f.vringBaseAtClose(q), "vq " + q + ": last_avail_idx at GET_VRING_BASE");
        }
        assertTrue(export.awaitIdle(30, TimeUnit.SECONDS));
        assertFalse(export.device().isBroken(), export.device().brokenReason());
    }

    private IOThread thread(String id) {
        return id.equals("io0") ? io0 : io1;
    }

    /** The device outlives the connection: a second front-end reads what the first wrote, over other queues. */
    @Test
    void aFrontEndThatReconnectsReadsWhatTheFirstWrote() throws Exception {
        start(",num-queues=2,writable=on", new MemoryDriver(BLOCKS * BS));
        try (VhostUserFrontend f = VhostUserFrontend.connect(export.socketPath(), frontEnd())) {
            FrontendDriver.assertEachBlockOnce(FrontendDriver.pass(f, VirtioBlkSpec.T_OUT, BLOCKS, BS, 32, 7, false), BLOCKS);
        }
        assertTrue(export.awaitIdle(30, TimeUnit.SECONDS), "the first session ended");
        VhostUserFrontend.Options one = VhostUserFrontend.Options.builder().queues(1).maxBytes(BS).build();
        try (VhostUserFrontend f = VhostUserFrontend.connect(export.socketPath(), one)) {
            FrontendDriver.assertEachBlockOnce(FrontendDriver.pass(f, VirtioBlkSpec.T_IN, BLOCKS, BS, 16, 7, true), BLOCKS);
        }
        assertEquals(2, export.acceptedCount());
    }

    /** writable=off (the default): VIRTIO_BLK_F_RO is offered and a write fails with IOERR, changing nothing. */
    @Test
    void aReadOnlyExportRefusesWrites() throws Exception {
        start("", new MemoryDriver(BLOCKS * BS));
        try (VhostUserFrontend f = VhostUserFrontend.connect(export.socketPath(), frontEnd())) {
            assertEquals(1, f.queueCount(), "num-queues defaults to 1");
            assertTrue(f.readOnly());
            FrontendDriver.Pass[] w = FrontendDriver.pass(f, VirtioBlkSpec.T_OUT, 8, BS, 8, 1, false);
            assertEquals(8, w[0].notOk, "every write refused");
            FrontendDriver.Pass[] r = FrontendDriver.pass(f, VirtioBlkSpec.T_IN, 8, BS, 8, 0, false);
            assertEquals(0, r[0].notOk, "reads work");
        }
    }

    /**
     * SET_MEM_TABLE while both queues have requests outstanding: each round makes a batch of
     * writes available on both queues and then swaps the table (the same RAM through a new fd,
     * with or without one more region). Every request completes exactly once with its data, and
     * each old table's mappings and fds are released at once (the rings were stopped around the
     * swap, so no request still used them).
     */
    @Test
    void theMemoryTableChangesWhileQueuesRunAndNothingIsLost() throws Exception {
        start(",num-queues=2,writable=on", new MemoryDriver(BLOCKS * BS));
        try (RawFrontEnd fe = RawFrontEnd.connect(export.socketPath()).start(2, 4 << 20)) {
            RawFrontEnd.Ram hotplugged = fe.newRam(1 << 20);
            assertEquals(2 + 1, RawFrontEnd.guestRamFds(), "ours (2) and the backend's table (1)");
            int perRound = RawFrontEnd.SLOTS;
            int rounds = (int) (BLOCKS / (2 * perRound));
            int[] completed = new int[(int) BLOCKS];
            long[][] blockOfSlot = new long[2][RawFrontEnd.SLOTS];
            int[] notOk = {0};
            for (int round = 0; round < rounds; round++) {
                for (int qi = 0; qi < 2; qi++) {
                    FrontendQueue q = fe.queues.get(qi);
                    for (int i = 0; i < perRound; i++) {
                        long block = (long) (round * 2 + qi) * perRound + i;
                        int s = q.takeSlot();
                        blockOfSlot[qi][s] = block;
                        q.dma().write(q.dataAddress(s), FrontendDriver.pattern(block, 3, BS), 0, BS);
                        q.add(s, VirtioBlkSpec.T_OUT, block * BS, BS);
                    }
                    q.publish();
                }
                boolean two = round % 2 == 0; // the table changes with both batches outstanding
                if (two) {
                    fe.memTable(true, fe.rams.get(0), hotplugged);
                } else {
                    fe.memTable(true, fe.rams.get(0));
                }
                fe.ackOk();
                assertEquals(2 + (two ? 2 : 1), RawFrontEnd.guestRamFds(), "round " + round + ": the old table released");
                for (int qi = 0; qi < 2; qi++) {
                    FrontendQueue q = fe.queues.get(qi);
                    long[] blocks = blockOfSlot[qi];
                    while (q.inFlight() > 0) {
                        q.await((slot, status) -> {
                            completed[(int) blocks[slot]]++;
                            notOk[0] += status == VirtioBlkSpec.S_OK ? 0 : 1;
                        });
                    }
                }
            }
            for (int b = 0; b < BLOCKS; b++) {
                assertEquals(1, completed[b], "block " + b + ": completions of its one write");
            }
            assertEquals(0, notOk[0], "requests that failed across the swaps");
            FrontendDriver.assertEachBlockOnce(
                    RawFrontEnd.pass(fe.queues, VirtioBlkSpec.T_IN, BLOCKS, BS, RawFrontEnd.SLOTS, 3, true), BLOCKS);
            for (int q = 0; q < 2; q++) {
                assertEquals(fe.queues.get(q).completions() & 0xffff, fe.stop(q), "vq " + q + ": every request taken once");
            }
        }
        assertTrue(export.awaitIdle(30, TimeUnit.SECONDS));
        assertEquals(0, RawFrontEnd.guestRamFds(), "the backend released its table when the front-end left");
    }

    /**
     * GET_VRING_BASE with requests in flight (held by the backend's driver) answers only after
     * they completed: the base counts every request, and each is in the used ring with status OK.
     * QEMU disables the ring first (SET_VRING_ENABLE 0); other front-ends send GET_VRING_BASE alone.
     */
    @ParameterizedTest(name = "disable first: {0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {true, false})
    void stoppingARingWithRequestsInFlightLosesNone(boolean disableFirst) throws Exception {
        GatedDriver gated = new GatedDriver(BLOCKS * BS);
        start(",num-queues=1,writable=on", gated);
        try (RawFrontEnd fe = RawFrontEnd.connect(export.socketPath()).start(1, 4 << 20)) {
            FrontendQueue q = fe.queues.get(0);
            gated.hold();
            int n = RawFrontEnd.SLOTS;
            for (int i = 0; i < n; i++) {
                int s = q.takeSlot();
                q.dma().write(q.dataAddress(s), FrontendDriver.pattern(i, 5, BS), 0, BS);
                q.add(s, VirtioBlkSpec.T_OUT, (long) i * BS, BS);
            }
            q.publish();
            while (gated.held() < n) {
                Thread.onSpinWait(); // the backend has taken all n, its driver holds them
            }
            CompletableFuture<Integer> base = CompletableFuture.supplyAsync(() -> disableFirst ? fe.stop(0) : fe.getVringBase(0));
            Thread.sleep(50); // give a wrong backend the chance to answer early (a pass does not depend on it)
            gated.open();
            assertEquals(n, base.get(30, TimeUnit.SECONDS), "the base counts every request taken");
            int[] ok = new int[1];
            int got = q.reap((slot, status) -> ok[0] += status == VirtioBlkSpec.S_OK ? 1 : 0);
            assertEquals(n, got, "every request was completed before GET_VRING_BASE answered");
            assertEquals(n, ok[0]);
        }
    }

    /**
     * A front-end that hangs up with requests in flight: the session waits for them, resets the
     * device and releases guest RAM; the next front-end then works.
     */
    @Test
    void aFrontEndThatHangsUpWithRequestsInFlightLeavesACleanExport() throws Exception {
        GatedDriver gated = new GatedDriver(BLOCKS * BS);
        start(",num-queues=2,writable=on", gated);
        RawFrontEnd fe = RawFrontEnd.connect(export.socketPath()).start(2, 4 << 20);
        gated.hold();
        for (FrontendQueue q : fe.queues) {
            for (int i = 0; i < 4; i++) {
                q.add(q.takeSlot(), VirtioBlkSpec.T_IN, (long) i * BS, BS);
            }
            q.publish();
        }
        while (gated.held() < 8) {
            Thread.onSpinWait();
        }
        fe.close(); // hang up; our own memfds and mappings go too
        gated.open();
        assertTrue(export.awaitIdle(30, TimeUnit.SECONDS), "the session ended once its requests completed");
        assertEquals(0, RawFrontEnd.guestRamFds(), "the backend released guest RAM");
        for (int i = 0; i < 2; i++) {
            assertFalse(export.device().isRunning(i), "vq " + i + " stopped");
        }
        try (VhostUserFrontend f = VhostUserFrontend.connect(export.socketPath(), frontEnd())) {
            FrontendDriver.assertEachBlockOnce(FrontendDriver.pass(f, VirtioBlkSpec.T_OUT, 64, BS, 8, 2, false), 64);
            FrontendDriver.assertEachBlockOnce(FrontendDriver.pass(f, VirtioBlkSpec.T_IN, 64, BS, 8, 2, true), 64);
        }
        assertTrue(log.stream().anyMatch(l -> l.contains("front-end hung up")), String.join("\n", log));
    }

    /**
     * A front-end that offers a descriptor outside the table breaks the device: its err eventfd
     * is written and nothing more is served. Stopping the rings and setting the features again
     * (QEMU's restart after a guest reset) gives a working device.
     */
    @Test
    void aBrokenRingIsReportedOnTheErrFdAndARestartRecovers() throws Exception {
        start(",num-queues=1,writable=on", new MemoryDriver(BLOCKS * BS));
        try (RawFrontEnd fe = RawFrontEnd.connect(export.socketPath()).start(1, 4 << 20)) {
            FrontendQueue q = fe.queues.get(0);
            org.mqblock.nativeio.EventFd err = fe.eventFd();
            fe.request(VhostUser.SET_VRING_ERR, true).u64Payload(0).withFds(err.fd());
            fe.ackOk();
            long avail = q.ring().availAddr();
            q.dma().writeU16(avail + org.mqblock.virtio.Vring.AVAIL_RING, 999); // head 999 of a 64-entry table
            q.dma().writeU16(avail + org.mqblock.virtio.Vring.AVAIL_IDX, 1);
            q.kickFd().signal();
            assertTrue(err.awaitReadable(30_000), "the err eventfd was written");
            assertTrue(export.device().isBroken());
            assertTrue(export.device().brokenReason().contains("999"), export.device().brokenReason());

            fe.stop(0);
            fe.request(VhostUser.SET_FEATURES, true).u64Payload(fe.features);
            fe.ackOk();
            assertFalse(export.device().isBroken(), "SET_FEATURES with the rings stopped reset the device");
            RawFrontEnd.Ram r = fe.rams.get(0);
            FrontendQueue fresh = fe.newQueue(); // a new ring, as a guest driver lays out after a reset
            fe.queues.set(0, fresh);
            fe.queues.remove(1);
            fe.request(VhostUser.SET_VRING_NUM, true).statePayload(0, fresh.size());
            fe.ackOk();
            fe.request(VhostUser.SET_VRING_BASE, true).statePayload(0, 0);
            fe.ackOk();
            fe.vringAddr(0, r.qva(fresh.ring().descAddr()), r.qva(fresh.ring().usedAddr()), r.qva(fresh.ring().availAddr()));
            fe.ackOk();
            fe.request(VhostUser.SET_VRING_KICK, true).u64Payload(0).withFds(fresh.kickFd().fd());
            fe.ackOk();
            fe.request(VhostUser.SET_VRING_CALL, true).u64Payload(0).withFds(fresh.callFd().fd());
            fe.ackOk();
            fe.request(VhostUser.SET_VRING_ENABLE, true).statePayload(0, 1);
            fe.ackOk();
            FrontendDriver.assertEachBlockOnce(RawFrontEnd.pass(fe.queues, VirtioBlkSpec.T_OUT, 32, BS, 8, 6, false), 32);
            FrontendDriver.assertEachBlockOnce(RawFrontEnd.pass(fe.queues, VirtioBlkSpec.T_IN, 32, BS, 8, 6, true), 32);
        }
    }
}
