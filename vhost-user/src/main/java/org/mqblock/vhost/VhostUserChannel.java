package org.mqblock.vhost;

import java.lang.foreign.MemorySegment;
import org.mqblock.nativeio.NativeException;
import org.mqblock.nativeio.UnixSocket;

/**
 * A vhost-user connection's socket, message by message: {@link #receive} reads a header with
 * the fds that came with it and then exactly the payload it announces; {@link #send} writes
 * header, payload and fds in one {@code sendmsg} where the kernel takes it all.
 *
 * <p>The socket is blocking: each side gives a connection a thread of its own (or a front-end its
 * caller's), so a peer that stalls halfway through a message stalls only its own connection. A
 * message is refused before its payload is read if it announces more than {@link
 * VhostUser#MAX_PAYLOAD} bytes or carries more than {@link VhostUser#MAX_FDS} fds; a peer that
 * closes mid-message is a {@link VhostUserException}, and so is a receive or send that its
 * socket's timeout ({@link UnixSocket#setReceiveTimeout}, {@link UnixSocket#setSendTimeout}) cuts
 * short: the stream is then out of step, and the connection must be dropped. Threadsafe for one
 * sender and one receiver at a time.
 */
public final class VhostUserChannel implements AutoCloseable {

    private final UnixSocket socket;

    public VhostUserChannel(UnixSocket socket) {
        this.socket = socket;
        socket.setMaxFdsPerMessage(VhostUser.MAX_FDS);
    }

    public UnixSocket socket() {
        return socket;
    }

    /**
     * Reads the next message into {@code m} (closing fds it still held).
     *
     * @return false at end-of-file before a message began (the peer hung up cleanly)
     * @throws VhostUserException on a truncated, oversized or malformed message (its fds are closed)
     */
    public boolean receive(VhostUserMessage m) {
        m.closeFds();
        MemorySegment header = m.header();
        UnixSocket.Received r;
        try {
            r = socket.recvMsg(header, m.fdArray());
        } catch (NativeException e) {
            throw new VhostUserException("receiving a message header: " + e.getMessage(), e);
        }
        m.received(r.fds());
        if (r.bytes() == 0) {
            return false;
        }
        if (r.bytes() < 0) {
            throw new VhostUserException(timedOut("no message came"));
        }
        if (r.fdsClosed() > 0) {
            throw new VhostUserException("a message carried " + (r.fds() + r.fdsClosed()) + " fds; at most "
                    + VhostUser.MAX_FDS);
        }
        readFully(header, r.bytes(), "header");
        int size = m.size();
        if (Integer.compareUnsigned(size, VhostUser.MAX_PAYLOAD) > 0) {
            throw new VhostUserException(m.name() + " announces a payload of " + Integer.toUnsignedString(size)
                    + " bytes; no request has more than " + VhostUser.MAX_PAYLOAD);
        }
        if ((m.flags() & VhostUser.VERSION_MASK) != VhostUser.VERSION) {
            throw new VhostUserException(m.name() + ": protocol version " + (m.flags() & VhostUser.VERSION_MASK)
                    + ", only " + VhostUser.VERSION + " is spoken");
        }
        readFully(m.payloadSegment(size), 0, m.name() + " payload");
        return true;
    }

    private void readFully(MemorySegment into, long have, String what) {
        long done = have;
        while (done < into.byteSize()) {
            long n;
            try {
                n = socket.recv(into.asSlice(done));
            } catch (NativeException e) {
                throw new VhostUserException("receiving the " + what + ": " + e.getMessage(), e);
            }
            if (n == 0) {
                throw new VhostUserException("the peer closed the connection after " + done + " of the "
                        + into.byteSize() + " bytes of a message " + what);
            }
            if (n < 0) {
                throw new VhostUserException(timedOut("the peer sent " + done + " of the " + into.byteSize()
                        + " bytes of a message " + what + " and then nothing"));
            }
            done += n;
        }
    }

    /** Writes {@code m} with the fds attached to it; they stay open. */
    public void send(VhostUserMessage m) {
        MemorySegment wire = m.wire();
        try {
            long n = socket.sendMsg(wire, m.fdsToSend());
            while (n >= 0 && n < wire.byteSize()) {
                long more = socket.send(wire.asSlice(n));
                n = more < 0 ? -1 : n + more;
            }
            if (n < 0) {
                throw new VhostUserException(timedOut("the peer took no more of " + m.name()));
            }
        } catch (NativeException e) {
            throw new VhostUserException("sending " + m.name() + ": " + e.getMessage(), e);
        }
    }

    /** A blocking call returned EAGAIN: the socket's timeout ran out (or it was made non-blocking). */
    private String timedOut(String what) {
        return what + " within the socket's timeout on " + socket;
    }

    /** Shuts the socket down (waking a thread blocked in receive) and closes it. */
    @Override
    public void close() {
        try {
            socket.shutdown(UnixSocket.SHUT_RDWR);
        } catch (NativeException ignored) {
            // not connected any more: nothing to wake
        }
        socket.close();
    }
}
