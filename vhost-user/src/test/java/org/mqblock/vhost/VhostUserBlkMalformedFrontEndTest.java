package org.mqblock.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.ToLongFunction;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.mqblock.block.driver.MemoryDriver;
import org.mqblock.core.loop.IOThread;
import org.mqblock.core.loop.PollWindow;
import org.mqblock.nativeio.EpollMonitor;
import org.mqblock.nativeio.MemFd;
import org.mqblock.nativeio.NativeException;
import org.mqblock.virtio.Vring;
import org.mqblock.virtio.VirtioBlkSpec;

/**
 * Front-ends that break the protocol, one way each, against one export that lives through all of
 * them: each bad request gets a failure REPLY_ACK (the session then goes on: the next request is
 * answered), an empty GET_CONFIG reply, or a closed connection, never a dead export. After each,
 * a good front-end connects and writes and reads back, and the session's fds are all closed.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class VhostUserBlkMalformedFrontEndTest {

    private static final int BS = 4096;
    private static final long BLOCKS = 64;

    /** What the backend does about a fault. */
    enum Outcome {
        /** A REPLY_ACK with a non-zero status; the connection stays up. */
        REFUSED,
        /** The backend closes the connection. */
        CLOSED,
        /** A GET_CONFIG reply without payload. */
        EMPTY_REPLY
    }

    private Path dir;
    private IOThread io0;
    private IOThread io1;
    private VhostUserBlkExport export;
    private final List<String> log = Collections.synchronizedList(new ArrayList<>());
    private long fdsBefore;

    @BeforeAll
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void start() throws IOException {
        dir = Files.createTempDirectory("mqb-vhu-malformed");
        io0 = IOThread.start("io0", IOThread.UNPINNED, PollWindow.DEFAULT_MAX_NS, EpollMonitor.FACTORY);
        io1 = IOThread.start("io1", IOThread.UNPINNED, PollWindow.DEFAULT_MAX_NS, EpollMonitor.FACTORY);
        VhostUserBlkOptions o = VhostUserBlkOptions.parse("vhost-user-blk,addr.path=" + dir.resolve("vhost.sock")
                + ",num-queues=2,writable=on,id=malformed");
        export = VhostUserBlkExport.start(o, new MemoryDriver(BLOCKS * BS), List.of(io0, io1), log::add, true);
        goodFrontEndWritesAndReadsBack(); // warm up, then count the fds a session leaves behind
        fdsBefore = sessionFds();
    }

    @AfterAll
    @Timeout(value = 90, unit = TimeUnit.SECONDS)
    void stop() throws Exception {
        // On a thread of its own: a close that never ends (a ring that never drains) fails the test, not hangs it.
        CompletableFuture.runAsync(export::close).get(60, TimeUnit.SECONDS);
        io0.close();
        io1.close();
        Files.deleteIfExists(dir);
        assertEquals(0, io0.failureCount(), "io0 saw " + io0.firstFailure());
        assertEquals(0, io1.failureCount(), "io1 saw " + io1.firstFailure());
    }

    static Stream<Arguments> faults() {
        return Stream.of(
            fault("GET_FEATURES with a payload", Outcome.CLOSED, fe -> {
                fe.request(VhostUser.GET_FEATURES, false).u64Payload(0);
                fe.send();
                return 0;
            }),
            fault("SET_FEATURES of 4 bytes", Outcome.REFUSED, fe -> {
                fe.negotiate();
                fe.request(VhostUser.SET_FEATURES, true).size(0).putU32(0, 1);
                return fe.ack();
            }),
            fault("SET_FEATURES with a feature not offered", Outcome.REFUSED, fe -> {
                fe.negotiate();
                fe.request(VhostUser.SET_FEATURES, true).u64Payload(fe.features | VhostUser.bit(VhostUser.F_LOG_ALL));
                return fe.ack();
            }),
            fault("SET_FEATURES without VERSION_1 (legacy)", Outcome.REFUSED, fe -> {
                fe.negotiate();
                fe.request(VhostUser.SET_FEATURES, true).u64Payload(fe.features & ~VhostUser.bit(Vring.F_VERSION_1));
                return fe.ack();
            }),
            fault("SET_PROTOCOL_FEATURES with INFLIGHT_SHMFD (not offered)", Outcome.REFUSED, fe -> {
                fe.negotiate();
                fe.request(VhostUser.SET_PROTOCOL_FEATURES, true).u64Payload(VhostUser.bit(VhostUser.PF_REPLY_ACK)
                        | VhostUser.bit(VhostUser.PF_INFLIGHT_SHMFD));
                return fe.ack();
            }),
            fault("an unknown request asking for an ack", Outcome.REFUSED, fe -> {
                fe.negotiate();
                fe.request(200, true);
                return fe.ack();
            }),
            fault("an unknown request without an ack", Outcome.CLOSED, fe -> {
                fe.negotiate();
                fe.request(200, false);
                fe.send();
                return 0;
            }),
            fault("a request not offered (SET_LOG_BASE) asking for an ack", Outcome.REFUSED, fe -> {
                fe.negotiate();
                fe.request(VhostUser.SET_LOG_BASE, true).u64Payload(0);
                return fe.ack();
            }),
            fault("NEED_REPLY without REPLY_ACK negotiated", Outcome.CLOSED, fe -> {
                fe.request(200, true);
                fe.send();
                return 0;
            }),
            fault("a header announcing a 1 MiB payload", Outcome.CLOSED, fe -> {
                fe.sendRaw(VhostUser.SET_CONFIG, VhostUser.VERSION, 1 << 20, VhostUser.HEADER_SIZE);
                return 0;
            }),
            fault("protocol version 2", Outcome.CLOSED, fe -> {
                fe.sendRaw(VhostUser.GET_FEATURES, 2, 0, VhostUser.HEADER_SIZE);
                return 0;
            }),
            fault("half a header, then the writing half shut", Outcome.CLOSED, fe -> {
                fe.sendRaw(VhostUser.GET_FEATURES, VhostUser.VERSION, 0, 6);
                fe.socket.shutdown(org.mqblock.nativeio.UnixSocket.SHUT_WR);
                return 0;
            }),
            fault("nine fds on one message", Outcome.CLOSED, fe -> {
                fe.negotiate();
                int[] fds = new int[VhostUser.MAX_FDS + 1];
                for (int i = 0; i < fds.length; i++) {
                    fds[i] = fe.eventFd().fd();
                }
                fe.sendRaw(VhostUser.SET_MEM_TABLE, VhostUser.VERSION, 0, VhostUser.HEADER_SIZE, fds); // past what a message holds
                return 0;
            }),
            fault("an fd on GET_QUEUE_NUM (a request with its own reply)", Outcome.CLOSED, fe -> {
                fe.negotiate();
                fe.request(VhostUser.GET_QUEUE_NUM, false).withFds(fe.eventFd().fd());
                fe.send();
                return 0;
            }),
            fault("an fd on SET_VRING_NUM", Outcome.REFUSED, fe -> {
                fe.negotiate();
                fe.request(VhostUser.SET_VRING_NUM, true).statePayload(0, 64).withFds(fe.eventFd().fd());
                return fe.ack();
            }),
            fault("SET_MEM_TABLE without its fd", Outcome.REFUSED, fe -> {
                fe.negotiate();
                RawFrontEnd.Ram r = fe.newRam(1 << 20);
                fe.memTable(true, r).withFds();
                return fe.ack();
            }),
            fault("SET_MEM_TABLE with two fds for one region", Outcome.REFUSED, fe -> {
                fe.negotiate();
                RawFrontEnd.Ram r = fe.newRam(1 << 20);
                fe.memTable(true, r).withFds(r.memfd().fd(), r.memfd().fd());
                return fe.ack();
            }),
            fault("SET_MEM_TABLE with zero regions", Outcome.REFUSED, fe -> {
                fe.negotiate();
                fe.memTable(true);
                return fe.ack();
            }),
            fault("SET_MEM_TABLE whose size disagrees with its region count", Outcome.REFUSED, fe -> {
                fe.negotiate();
                RawFrontEnd.Ram r = fe.newRam(1 << 20);
                fe.memTable(true, r).putU32(VhostUser.MEM_NREGIONS, 2).withFds(r.memfd().fd(), r.memfd().fd());
                return fe.ack();
            }),
            fault("overlapping regions", Outcome.REFUSED, fe -> {
                fe.negotiate();
                RawFrontEnd.Ram a = fe.newRam(1 << 20);
                RawFrontEnd.Ram b = fe.newRam(1 << 20);
                fe.memTable(true, a, b);
                fe.region(1, a.gpa() + (512 << 10), 1 << 20, b.mapping().address(), 0); // half inside a
                return fe.ack();
            }),
            fault("a region whose mmap offset plus size exceed its memfd", Outcome.REFUSED, fe -> {
                fe.negotiate();
                RawFrontEnd.Ram r = fe.newRam(1 << 20);
                fe.memTable(true, r);
                fe.region(0, r.gpa(), 1 << 20, r.mapping().address(), 4096); // the last page is past the end
                return fe.ack();
            }),
            fault("a region of 1000 bytes", Outcome.REFUSED, fe -> {
                fe.negotiate();
                RawFrontEnd.Ram r = fe.newRam(1 << 20);
                fe.memTable(true, r);
                fe.region(0, r.gpa(), 1000, r.mapping().address(), 0);
                return fe.ack();
            }),
            fault("a region whose fd is an eventfd", Outcome.REFUSED, fe -> {
                fe.negotiate();
                RawFrontEnd.Ram r = fe.newRam(1 << 20);
                fe.memTable(true, r).withFds(fe.eventFd().fd());
                return fe.ack();
            }),
            fault("SET_VRING_ADDR before SET_MEM_TABLE", Outcome.REFUSED, fe -> {
                fe.negotiate();
                fe.request(VhostUser.SET_VRING_NUM, true).statePayload(0, 64);
                fe.ackOk();
                fe.vringAddr(0, 0x10000, 0x20000, 0x30000);
                return fe.ack();
            }),
            fault("ring addresses outside the memory table", Outcome.REFUSED, fe -> {
                fe.negotiate();
                RawFrontEnd.Ram r = fe.newRam(1 << 20);
                fe.memTable(true, r);
                fe.ackOk();
                long base = r.mapping().address();
                fe.vringAddr(0, base, base + 4096, base + (1 << 20) - 2); // avail starts in the last bytes
                return fe.ack();
            }),
            fault("a misaligned descriptor table", Outcome.REFUSED, fe -> {
                fe.negotiate();
                RawFrontEnd.Ram r = fe.newRam(1 << 20);
                fe.memTable(true, r);
                fe.ackOk();
                long base = r.mapping().address();
                fe.vringAddr(0, base + 8, base + 8192, base + 16384);
                return fe.ack();
            }),
            fault("SET_VRING_NUM of vq 2 (num-queues is 2)", Outcome.REFUSED, fe -> {
                fe.negotiate();
                fe.request(VhostUser.SET_VRING_NUM, true).statePayload(2, 64);
                return fe.ack();
            }),
            fault("SET_VRING_NUM of 100 (not a power of two)", Outcome.REFUSED, fe -> {
                fe.negotiate();
                fe.request(VhostUser.SET_VRING_NUM, true).statePayload(0, 100);
                return fe.ack();
            }),
            fault("SET_VRING_KICK of vq 7", Outcome.REFUSED, fe -> {
                fe.negotiate();
                fe.request(VhostUser.SET_VRING_KICK, true).u64Payload(7).withFds(fe.eventFd().fd());
                return fe.ack();
            }),
            fault("SET_VRING_KICK with a memfd", Outcome.REFUSED, fe -> {
                fe.negotiate();
                fe.request(VhostUser.SET_VRING_KICK, true).u64Payload(0).withFds(fe.newRam(4096).memfd().fd());
                return fe.ack();
            }),
            fault("SET_VRING_CALL saying no fd but carrying one", Outcome.REFUSED, fe -> {
                fe.negotiate();
                fe.request(VhostUser.SET_VRING_CALL, true).u64Payload(VhostUser.VRING_NOFD_MASK).withFds(fe.eventFd().fd());
                return fe.ack();
            }),
            fault("SET_VRING_ENABLE 2", Outcome.REFUSED, fe -> {
                fe.negotiate();
                fe.request(VhostUser.SET_VRING_ENABLE, true).statePayload(0, 2);
                return fe.ack();
            }),
            fault("GET_VRING_BASE of vq 9", Outcome.CLOSED, fe -> {
                fe.negotiate();
                fe.request(VhostUser.GET_VRING_BASE, false).statePayload(9, 0);
                fe.send();
                return 0;
            }),
            fault("GET_VRING_BASE of a never-started ring", Outcome.CLOSED, fe -> {
                fe.negotiate();
                fe.request(VhostUser.SET_VRING_NUM, true).statePayload(1, 64);
                fe.ackOk();
                fe.request(VhostUser.GET_VRING_BASE, false).statePayload(1, 0);
                fe.send();
                return 0;
            }),
            fault("SET_CONFIG of blk_size", Outcome.REFUSED, fe -> {
                fe.negotiate();
                fe.request(VhostUser.SET_CONFIG, true).size(0).putU32(VhostUser.CONFIG_OFFSET, VirtioBlkSpec.CONFIG_BLK_SIZE)
                        .putU32(VhostUser.CONFIG_SIZE, 4).putU32(VhostUser.CONFIG_FLAGS, 0).putU32(VhostUser.CONFIG_DATA, 4096);
                return fe.ack();
            }),
            fault("GET_CONFIG past the config space", Outcome.EMPTY_REPLY, fe -> {
                fe.negotiate();
                fe.request(VhostUser.GET_CONFIG, false).size(0).putU32(VhostUser.CONFIG_OFFSET, 50)
                        .putU32(VhostUser.CONFIG_SIZE, 20).putU32(VhostUser.CONFIG_FLAGS, 0)
                        .putBytes(VhostUser.CONFIG_DATA, new byte[20], 0, 20);
                return fe.call().size();
            }),
            fault("SET_VRING_NUM while the ring runs", Outcome.REFUSED, fe -> {
                fe.start(2, 1 << 20);
                fe.request(VhostUser.SET_VRING_NUM, true).statePayload(0, 32);
                return fe.ack();
            }),
            fault("a new memory table without the running rings' memory", Outcome.REFUSED, fe -> {
                fe.start(2, 1 << 20);
                RawFrontEnd.Ram elsewhere = fe.newRam(1 << 20);
                fe.memTable(true, elsewhere);
                long status = fe.ack();
                // the old table stays, and the rings go on running in it
                FrontendDriver.assertEachBlockOnce(RawFrontEnd.pass(fe.queues, VirtioBlkSpec.T_OUT, 8, BS, 4, 9, false), 8);
                FrontendDriver.assertEachBlockOnce(RawFrontEnd.pass(fe.queues, VirtioBlkSpec.T_IN, 8, BS, 4, 9, true), 8);
                return status;
            }));
    }

    private static Arguments fault(String name, Outcome outcome, Fault act) {
        return Arguments.of(name, outcome, act);
    }

    @FunctionalInterface
    interface Fault extends ToLongFunction<RawFrontEnd> {
        long act(RawFrontEnd fe) throws Exception;

        @Override
        default long applyAsLong(RawFrontEnd fe) {
            try {
                return act(fe);
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        }
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("faults")
    void aBadRequestIsRefusedOrEndsTheConnectionNeverTheExport(String name, Outcome outcome, Fault act)
            throws Exception {
        try (RawFrontEnd fe = RawFrontEnd.connect(export.socketPath())) {
            long result = act.applyAsLong(fe);
            switch (outcome) {
                case REFUSED -> {
                    assertNotEquals(0, result, name + ": REPLY_ACK status");
                    assertEquals(2, fe.getU64(VhostUser.GET_QUEUE_NUM), name + ": the session goes on after a refusal");
                }
                case CLOSED -> assertTrue(fe.hungUp(), name + ": the backend closes the connection");
                case EMPTY_REPLY -> {
                    assertEquals(0, result, name + ": an empty reply");
                    assertEquals(2, fe.getU64(VhostUser.GET_QUEUE_NUM), name + ": the session goes on");
                }
            }
        }
        goodFrontEndWritesAndReadsBack();
        assertEquals(fdsBefore, sessionFds(), name + ": eventfds, memfds and sockets all closed");
        String why = String.join("\n", log.subList(Math.max(0, log.size() - 40), log.size()));
        assertTrue(log.stream().anyMatch(l -> l.contains("refused") || l.contains("closing the connection")), why);
    }

    /**
     * A front-end that shrinks its guest RAM file under our mapping would make the next access of
     * a lost page raise SIGBUS and end the process, every other session with it: a sealable memfd
     * gets F_SEAL_SHRINK before its size is checked, so the shrink fails instead.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aFrontEndCannotShrinkTheGuestRamItHandedOver() throws Exception {
        try (RawFrontEnd fe = RawFrontEnd.connect(export.socketPath())) {
            fe.negotiate();
            RawFrontEnd.Ram r = fe.newRam(1 << 20, MemFd.MFD_CLOEXEC | MemFd.MFD_ALLOW_SEALING);
            fe.memTable(true, r);
            assertEquals(0, fe.ack(), "the table is accepted");
            NativeException e = assertThrows(NativeException.class, () -> r.memfd().truncate(4096));
            assertEquals(1, e.errno(), "EPERM: " + e.getMessage());
            r.memfd().truncate(2 << 20); // growing loses nothing and stays allowed
            assertEquals(MemFd.F_SEAL_SHRINK, MemFd.seals(r.memfd().fd()));
        }
        assertTrue(export.awaitIdle(30, TimeUnit.SECONDS));
        goodFrontEndWritesAndReadsBack();
    }

    /** A file that cannot be sealed (hugetlbfs, a plain memfd) is still served, with a warning that says why it matters. */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void guestRamThatCannotBeSealedIsServedWithAWarning() throws Exception {
        try (RawFrontEnd fe = RawFrontEnd.connect(export.socketPath())) {
            fe.negotiate();
            RawFrontEnd.Ram r = fe.newRam(1 << 20, MemFd.MFD_CLOEXEC);
            fe.memTable(true, r);
            assertEquals(0, fe.ack(), "the table is accepted");
        }
        assertTrue(export.awaitIdle(30, TimeUnit.SECONDS));
        assertTrue(log.stream().anyMatch(l -> l.contains("cannot be sealed against shrinking")), String.join("\n", log));
    }

    /** One front-end at a time: a second one is accepted, logged and answered once the first hangs up. */
    @Test
    void aSecondFrontEndWaitsUntilTheFirstDisconnects() throws Exception {
        long accepted = export.acceptedCount();
        RawFrontEnd first = RawFrontEnd.connect(export.socketPath());
        first.negotiate(); // and now it just sits there
        VhostUserFrontend.Options o = VhostUserFrontend.Options.builder().maxBytes(BS).replyTimeoutMs(50_000).build();
        CompletableFuture<VhostUserFrontend> second = CompletableFuture.supplyAsync(
                () -> VhostUserFrontend.connect(export.socketPath(), o));
        String waits = "front-end #" + (accepted + 2) + " connected while #" + (accepted + 1) + " is served";
        while (log.stream().noneMatch(l -> l.contains(waits))) {
            Thread.sleep(1);
        }
        // The second's requests are not read while the first is connected. Look for a while (a
        // pass does not depend on how long: nothing is ever read).
        String secondsRequest = "malformed #" + (accepted + 2) + ": <- ";
        for (int i = 0; i < 100; i++) {
            assertEquals(2, first.getU64(VhostUser.GET_QUEUE_NUM), "the first is still served");
            Thread.sleep(10);
        }
        assertTrue(log.stream().noneMatch(l -> l.contains(secondsRequest)), "the second front-end was served alongside"
                + " the first:\n" + String.join("\n", log.subList(Math.max(0, log.size() - 20), log.size())));
        assertTrue(!second.isDone(), "the second front-end is not answered while the first is connected");
        first.close();
        try (VhostUserFrontend f = second.get(50, TimeUnit.SECONDS)) {
            FrontendDriver.assertEachBlockOnce(FrontendDriver.pass(f, VirtioBlkSpec.T_OUT, BLOCKS, BS, 8, 4, false), BLOCKS);
            FrontendDriver.assertEachBlockOnce(FrontendDriver.pass(f, VirtioBlkSpec.T_IN, BLOCKS, BS, 8, 4, true), BLOCKS);
        }
    }

    /** A front-end that stalls halfway through a message holds only its own session; it ends when it hangs up. */
    @Test
    void aFrontEndStalledMidMessageHoldsOnlyItsSession() throws Exception {
        try (RawFrontEnd fe = RawFrontEnd.connect(export.socketPath())) {
            fe.negotiate();
            fe.sendRaw(VhostUser.SET_VRING_NUM, VhostUser.VERSION, 8, VhostUser.HEADER_SIZE + 3); // 3 of 8 payload bytes
            assertTrue(export.serving());
            // the IOThreads are not involved: each still runs what it is given
            CompletableFuture<Void> ran = new CompletableFuture<>();
            io0.context().schedule(() -> io1.context().schedule(() -> ran.complete(null)));
            ran.get(10, TimeUnit.SECONDS);
        }
        assertTrue(export.awaitIdle(30, TimeUnit.SECONDS), "the session ended with the hang-up");
        goodFrontEndWritesAndReadsBack();
    }

    private void goodFrontEndWritesAndReadsBack() {
        try (VhostUserFrontend f = VhostUserFrontend.connect(export.socketPath(),
                VhostUserFrontend.Options.builder().maxBytes(BS).replyTimeoutMs(30_000).build())) {
            assertEquals(2, f.queueCount());
            FrontendDriver.assertEachBlockOnce(FrontendDriver.pass(f, VirtioBlkSpec.T_OUT, BLOCKS, BS, 8, 1, false), BLOCKS);
            FrontendDriver.assertEachBlockOnce(FrontendDriver.pass(f, VirtioBlkSpec.T_IN, BLOCKS, BS, 8, 1, true), BLOCKS);
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
        assertTrue(export.awaitIdle(30, TimeUnit.SECONDS), "the good session ended");
    }

    /** Open eventfds, memfds and sockets of this process (the export's listener among them). */
    private static long sessionFds() {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return s.filter(p -> {
                try {
                    String l = Files.readSymbolicLink(p).toString();
                    return l.equals("anon_inode:[eventfd]") || l.startsWith("/memfd:") || l.startsWith("socket:");
                } catch (IOException e) {
                    return false;
                }
            }).count();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
