package org.mqblock.nativeio;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 10, unit = TimeUnit.SECONDS)
class FdPassingTest {

    private static final int EFD = EventFd.EFD_NONBLOCK | EventFd.EFD_CLOEXEC;

    @Test
    void passedEventFdSignalsTheOriginalAndPassedMemFdSharesItsPages() {
        UnixSocket[] pair = UnixSocket.pair();
        try (UnixSocket a = pair[0]; UnixSocket b = pair[1]; Arena arena = Arena.ofConfined();
             EventFd kick = EventFd.create(EFD); MemFd ram = MemFd.create("guest-ram", MemFd.MFD_CLOEXEC)) {
            ram.truncate(2 * Mapping.pageSize());
            MemorySegment msg = arena.allocate(8);
            msg.set(JAVA_LONG, 0, 0x1234_5678_9abc_def0L);
            assertEquals(8, a.sendMsg(msg, kick.fd(), ram.fd()));

            MemorySegment in = arena.allocate(8);
            int[] fds = new int[4];
            UnixSocket.Received r = b.recvMsg(in, fds);
            assertEquals(new UnixSocket.Received(8, 2, 0), r);
            assertEquals(0x1234_5678_9abc_def0L, in.get(JAVA_LONG, 0));
            assertNotEquals(kick.fd(), fds[0], "the receiver gets its own fd numbers");

            try (EventFd kick2 = EventFd.adopt(fds[0]); MemFd ram2 = MemFd.adopt(fds[1]);
                 Mapping m1 = ram.map(0, 2 * Mapping.pageSize()); Mapping m2 = ram2.map(0, 2 * Mapping.pageSize())) {
                assertTrue(kick2.isNonBlocking(), "the fd shares the original's file description and its flags");
                kick2.write(3);
                assertEquals(3, kick.read());
                kick.write(2);
                assertEquals(2, kick2.read());

                assertNotEquals(m1.address(), m2.address());
                m1.segment().set(JAVA_LONG, 8, 0xfeed_beefL);
                assertEquals(0xfeed_beefL, m2.segment().get(JAVA_LONG, 8));
                m2.segment().set(JAVA_BYTE, Mapping.pageSize() + 5, (byte) 77);
                assertEquals(77, m1.segment().get(JAVA_BYTE, Mapping.pageSize() + 5));
            }
        }
    }

    @Test
    void fdsBeyondTheCallersRoomAreClosedNotLeaked() {
        UnixSocket[] pair = UnixSocket.pair();
        try (UnixSocket a = pair[0]; UnixSocket b = pair[1]; Arena arena = Arena.ofConfined()) {
            EventFd[] sent = new EventFd[5];
            int[] sentFds = new int[5];
            for (int i = 0; i < sent.length; i++) {
                sent[i] = EventFd.create(EFD);
                sentFds[i] = sent[i].fd();
            }
            long before = OpenFds.count();
            MemorySegment one = arena.allocate(1);
            assertEquals(1, a.sendMsg(one, sentFds));
            int[] room = new int[2];
            UnixSocket.Received r = b.recvMsg(arena.allocate(1), room);
            assertEquals(new UnixSocket.Received(1, 2, 3), r);
            assertEquals(before + 2, OpenFds.count(), "only the two kept fds are new");
            Fds.close(room[0]);
            Fds.close(room[1]);
            assertEquals(before, OpenFds.count());
            for (EventFd e : sent) {
                e.close();
            }
        }
    }

    @Test
    void truncatedControlDataIsAnErrorAndClosesWhatArrived() {
        UnixSocket[] pair = UnixSocket.pair();
        try (UnixSocket a = pair[0]; UnixSocket b = pair[1]; Arena arena = Arena.ofConfined();
             EventFd e1 = EventFd.create(EFD); EventFd e2 = EventFd.create(EFD); EventFd e3 = EventFd.create(EFD)) {
            b.setMaxFdsPerMessage(1);
            long before = OpenFds.count();
            a.sendMsg(arena.allocate(1), e1.fd(), e2.fd(), e3.fd());
            int[] room = new int[8];
            NativeException ex = assertThrows(NativeException.class, () -> b.recvMsg(arena.allocate(1), room));
            assertTrue(ex.getMessage().startsWith("recvmsg(fd " + b.fd() + "): control data truncated (MSG_CTRUNC)"),
                    ex.getMessage());
            assertEquals(0, ex.errno());
            assertEquals(before, OpenFds.count());
        }
    }

    @Test
    void listenerAcceptsAClientOnAPathAndRemovesThePathOnClose(@TempDir Path dir) {
        Path path = dir.resolve("mqb.sock");
        try (UnixSocket server = UnixSocket.listen(path, 4); Arena arena = Arena.ofConfined()) {
            assertTrue(Files.exists(path));
            server.setNonBlocking(true);
            assertNull(server.accept(), "nothing pending: EAGAIN");
            try (UnixSocket client = UnixSocket.connect(path); UnixSocket conn = server.accept()) {
                MemorySegment out = arena.allocateFrom("hello");
                assertEquals(out.byteSize(), client.send(out));
                MemorySegment in = arena.allocate(64);
                assertEquals(out.byteSize(), conn.recv(in));
                assertEquals("hello", in.getString(0));

                conn.setNonBlocking(true);
                assertTrue(conn.isNonBlocking());
                assertEquals(-1, conn.recv(in), "empty non-blocking socket: EAGAIN");
                assertEquals(UnixSocket.Received.AGAIN, conn.recvMsg(in, new int[1]));

                client.shutdown(UnixSocket.SHUT_WR);
                assertEquals(0, conn.recv(in), "end-of-file after the peer's shutdown");
            }
        }
        assertTrue(Files.notExists(path), "close removes the listener's path");
    }

    @Test
    void sendToAClosedPeerIsEpipeNotSigpipe() {
        UnixSocket[] pair = UnixSocket.pair();
        try (UnixSocket a = pair[0]; Arena arena = Arena.ofConfined()) {
            pair[1].close();
            NativeException ex = assertThrows(NativeException.class, () -> a.send(arena.allocate(4)));
            assertTrue(ex.getMessage().contains("EPIPE (32)"), ex.getMessage());
        }
    }

    @Test
    void heapSegmentsAndTooLongPathsAreRefusedClearly(@TempDir Path dir) {
        UnixSocket[] pair = UnixSocket.pair();
        try (UnixSocket a = pair[0]) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> a.send(MemorySegment.ofArray(new byte[4])));
            assertTrue(e.getMessage().contains("native segment"), e.getMessage());
        } finally {
            pair[1].close();
        }
        Path longPath = dir.resolve("x".repeat(120));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> UnixSocket.connect(longPath));
        assertTrue(e.getMessage().contains("1 to 107"), e.getMessage());
    }
}
