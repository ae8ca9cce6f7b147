package org.mqblock.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.mqblock.nativeio.EventFd;
import org.mqblock.nativeio.Fds;
import org.mqblock.nativeio.UnixSocket;

class VhostUserChannelTest {

    private VhostUserChannel a;
    private VhostUserChannel b;
    private UnixSocket rawA;

    @BeforeEach
    void pair() {
        UnixSocket[] p = UnixSocket.pair();
        rawA = p[0];
        a = new VhostUserChannel(p[0]);
        b = new VhostUserChannel(p[1]);
    }

    @AfterEach
    void close() {
        a.close();
        b.close();
    }

    @Test
    void aMessageArrivesWithItsPayloadAndItsFds() {
        try (VhostUserMessage out = new VhostUserMessage(); VhostUserMessage in = new VhostUserMessage();
             EventFd kick = EventFd.create(EventFd.EFD_NONBLOCK)) {
            out.request(VhostUser.SET_VRING_KICK, true).u64Payload(3).withFds(kick.fd());
            a.send(out);
            assertTrue(b.receive(in));
            assertEquals(VhostUser.SET_VRING_KICK, in.request());
            assertTrue(in.needsReply());
            assertFalse(in.isReply());
            assertEquals(8, in.size());
            assertEquals(3, in.u64(0));
            assertEquals(1, in.fdCount());
            try (EventFd received = EventFd.adopt(in.takeFd(0))) {
                received.signal();
                assertTrue(kick.testAndClear(), "the received fd is the same eventfd");
            }
        }
    }

    @Test
    void fdsNobodyTookAreClosedByTheNextReceive() {
        try (VhostUserMessage out = new VhostUserMessage(); VhostUserMessage in = new VhostUserMessage();
             EventFd e = EventFd.create(0)) {
            a.send(out.request(VhostUser.SET_VRING_CALL, false).u64Payload(0).withFds(e.fd()));
            assertTrue(b.receive(in));
            int fd = in.fd(0);
            assertTrue(Fds.isOpen(fd));
            a.send(out.request(VhostUser.GET_FEATURES, false));
            assertTrue(b.receive(in));
            assertFalse(Fds.isOpen(fd), "the refused message's fd was closed");
            assertEquals(0, in.size());
        }
    }

    @Test
    void shortPayloadFieldsAreRefusedByName() {
        try (VhostUserMessage out = new VhostUserMessage(); VhostUserMessage in = new VhostUserMessage()) {
            a.send(out.request(VhostUser.SET_VRING_ADDR, false).statePayload(0, 0));
            assertTrue(b.receive(in));
            VhostUserException e = assertThrows(VhostUserException.class, () -> in.u64(VhostUser.ADDR_DESC));
            assertEquals("SET_VRING_ADDR: payload of 8 bytes ends before the field at offset 8", e.getMessage());
            assertThrows(VhostUserException.class, () -> in.requireExactSize(VhostUser.ADDR_SIZE));
        }
    }

    @Test
    void anOversizedPayloadIsRefusedBeforeItIsRead() {
        try (Arena arena = Arena.ofConfined(); VhostUserMessage in = new VhostUserMessage()) {
            MemorySegment h = arena.allocate(VhostUser.HEADER_SIZE);
            h.set(ValueLayout.JAVA_INT_UNALIGNED, 0, VhostUser.SET_CONFIG);
            h.set(ValueLayout.JAVA_INT_UNALIGNED, 4, VhostUser.VERSION);
            h.set(ValueLayout.JAVA_INT_UNALIGNED, 8, -1);
            rawA.send(h);
            VhostUserException e = assertThrows(VhostUserException.class, () -> b.receive(in));
            assertTrue(e.getMessage().contains("4294967295 bytes"), e.getMessage());
        }
    }

    @Test
    void aPeerThatHangsUpMidMessageIsAnErrorAndAtABoundaryIsEndOfFile() {
        try (Arena arena = Arena.ofConfined(); VhostUserMessage in = new VhostUserMessage()) {
            MemorySegment h = arena.allocate(VhostUser.HEADER_SIZE + 4);
            h.set(ValueLayout.JAVA_INT_UNALIGNED, 0, VhostUser.SET_FEATURES);
            h.set(ValueLayout.JAVA_INT_UNALIGNED, 4, VhostUser.VERSION);
            h.set(ValueLayout.JAVA_INT_UNALIGNED, 8, 8);
            rawA.send(h); // 4 of the 8 payload bytes
            rawA.shutdown(UnixSocket.SHUT_WR);
            VhostUserException e = assertThrows(VhostUserException.class, () -> b.receive(in));
            assertTrue(e.getMessage().contains("closed the connection after 4 of the 8 bytes"), e.getMessage());
            assertFalse(b.receive(in), "then end-of-file");
        }
    }

    @Test
    void aWrongVersionIsRefused() {
        try (VhostUserMessage out = new VhostUserMessage(); VhostUserMessage in = new VhostUserMessage()) {
            a.send(out.reset(VhostUser.GET_FEATURES, 2));
            VhostUserException e = assertThrows(VhostUserException.class, () -> b.receive(in));
            assertEquals("GET_FEATURES: protocol version 2, only 1 is spoken", e.getMessage());
        }
    }

    @Test
    void moreFdsThanAnyRequestCarriesAreRefusedAndClosed() {
        EventFd[] many = new EventFd[VhostUser.MAX_FDS + 1];
        int[] fds = new int[many.length];
        for (int i = 0; i < many.length; i++) {
            many[i] = EventFd.create(0);
            fds[i] = many[i].fd();
        }
        try (Arena arena = Arena.ofConfined(); VhostUserMessage in = new VhostUserMessage()) {
            MemorySegment h = arena.allocate(VhostUser.HEADER_SIZE);
            h.set(ValueLayout.JAVA_INT_UNALIGNED, 0, VhostUser.SET_MEM_TABLE);
            h.set(ValueLayout.JAVA_INT_UNALIGNED, 4, VhostUser.VERSION);
            rawA.sendMsg(h, fds);
            assertThrows(VhostUserException.class, () -> b.receive(in));
        } finally {
            for (EventFd e : many) {
                e.close();
            }
        }
    }
}
