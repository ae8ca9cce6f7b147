package org.mqblock.vhost;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import org.mqblock.nativeio.Fds;

/**
 * One vhost-user message, reused: the 12-byte header and up to {@link VhostUser#MAX_PAYLOAD}
 * bytes of payload in native memory (what {@link VhostUserChannel} sends and receives without
 * copying), and the fds that came or go with it. Typed accessors read and write the payload
 * layouts of {@link VhostUser}; each checks the payload is as large as the field it touches, so a
 * short message from a peer is a {@link VhostUserException}, never a read of stale bytes.
 *
 * <p>Received fds belong to the message until someone {@link #takeFd takes} one; {@link
 * #closeFds()} (also called by the next receive and by {@link #close()}) closes those left, so a
 * message a handler refuses leaks nothing. Not threadsafe: one thread at a time.
 */
public final class VhostUserMessage implements AutoCloseable {

    private final Arena arena = Arena.ofShared();
    private final MemorySegment buffer = arena.allocate(VhostUser.HEADER_SIZE + VhostUser.MAX_PAYLOAD, 8);
    private final MemorySegment payload = buffer.asSlice(VhostUser.HEADER_SIZE);
    private final int[] fds = new int[VhostUser.MAX_FDS];
    private int fdCount;
    /** Whether {@link #closeFds()} closes the fds (received ones) or only forgets them (ones to send). */
    private boolean ownsFds;

    public VhostUserMessage() {
        Arrays.fill(fds, -1);
    }

    // ---------------------------------------------------------------------------------------
    // Header

    /** Starts a message: header set, payload size 0, no fds (those held are closed). */
    public VhostUserMessage reset(int request, int flags) {
        closeFds();
        buffer.set(JAVA_INT_UNALIGNED, VhostUser.HEADER_REQUEST, request);
        buffer.set(JAVA_INT_UNALIGNED, VhostUser.HEADER_FLAGS, flags);
        buffer.set(JAVA_INT_UNALIGNED, VhostUser.HEADER_SIZE_FIELD, 0);
        return this;
    }

    /** A request from the front-end: version 1, with NEED_REPLY if asked. */
    public VhostUserMessage request(int request, boolean needReply) {
        return reset(request, VhostUser.VERSION | (needReply ? VhostUser.FLAG_NEED_REPLY : 0));
    }

    /** A reply to {@code request}: version 1, REPLY. */
    public VhostUserMessage reply(int request) {
        return reset(request, VhostUser.VERSION | VhostUser.FLAG_REPLY);
    }

    public int request() {
        return buffer.get(JAVA_INT_UNALIGNED, VhostUser.HEADER_REQUEST);
    }

    public int flags() {
        return buffer.get(JAVA_INT_UNALIGNED, VhostUser.HEADER_FLAGS);
    }

    public boolean needsReply() {
        return (flags() & VhostUser.FLAG_NEED_REPLY) != 0;
    }

    public boolean isReply() {
        return (flags() & VhostUser.FLAG_REPLY) != 0;
    }

    /** The payload size the header states (unsigned; may exceed what a receive accepted only before it checks). */
    public int size() {
        return buffer.get(JAVA_INT_UNALIGNED, VhostUser.HEADER_SIZE_FIELD);
    }

    /** Sets the payload size. */
    public VhostUserMessage size(int bytes) {
        if (bytes < 0 || bytes > VhostUser.MAX_PAYLOAD) {
            throw new IllegalArgumentException("payload of " + bytes + " bytes; at most " + VhostUser.MAX_PAYLOAD);
        }
        buffer.set(JAVA_INT_UNALIGNED, VhostUser.HEADER_SIZE_FIELD, bytes);
        return this;
    }

    /** The request's name, for messages. */
    public String name() {
        return VhostUser.name(request());
    }

    // ---------------------------------------------------------------------------------------
    // Payload

    /** Fails unless the payload has at least {@code bytes} bytes (what the request's layout needs). */
    public void requireSize(int bytes) {
        if (Integer.compareUnsigned(size(), bytes) < 0) {
            throw new VhostUserException(name() + ": payload of " + Integer.toUnsignedString(size())
                    + " bytes, its layout needs " + bytes);
        }
    }

    /** Fails unless the payload has exactly {@code bytes} bytes. */
    public void requireExactSize(int bytes) {
        if (size() != bytes) {
            throw new VhostUserException(name() + ": payload of " + Integer.toUnsignedString(size())
                    + " bytes, expected " + bytes);
        }
    }

    private void check(int offset, int width) {
        if (Integer.compareUnsigned(size(), offset + width) < 0) {
            throw new VhostUserException(name() + ": payload of " + Integer.toUnsignedString(size())
                    + " bytes ends before the field at offset " + offset);
        }
    }

    public long u64(int offset) {
        check(offset, 8);
        return payload.get(JAVA_LONG_UNALIGNED, offset);
    }

    public int u32(int offset) {
        check(offset, 4);
        return payload.get(JAVA_INT_UNALIGNED, offset);
    }

    public int u16(int offset) {
        check(offset, 2);
        return Short.toUnsignedInt(payload.get(JAVA_SHORT_UNALIGNED, offset));
    }

    public int u8(int offset) {
        check(offset, 1);
        return Byte.toUnsignedInt(payload.get(JAVA_BYTE, offset));
    }

    /** Writes a u64 at {@code offset} and grows the payload to cover it. */
    public VhostUserMessage putU64(int offset, long v) {
        grow(offset + 8);
        payload.set(JAVA_LONG_UNALIGNED, offset, v);
        return this;
    }

    public VhostUserMessage putU32(int offset, int v) {
        grow(offset + 4);
        payload.set(JAVA_INT_UNALIGNED, offset, v);
        return this;
    }

    public VhostUserMessage putU16(int offset, int v) {
        grow(offset + 2);
        payload.set(JAVA_SHORT_UNALIGNED, offset, (short) v);
        return this;
    }

    public VhostUserMessage putU8(int offset, int v) {
        grow(offset + 1);
        payload.set(JAVA_BYTE, offset, (byte) v);
        return this;
    }

    /** Copies {@code len} bytes of {@code src} from {@code from} into the payload at {@code offset}. */
    public VhostUserMessage putBytes(int offset, byte[] src, int from, int len) {
        grow(offset + len);
        MemorySegment.copy(src, from, payload, JAVA_BYTE, offset, len);
        return this;
    }

    /** Copies {@code len} payload bytes at {@code offset} into {@code dst} at {@code to}. */
    public void getBytes(int offset, byte[] dst, int to, int len) {
        check(offset, len);
        MemorySegment.copy(payload, JAVA_BYTE, offset, dst, to, len);
    }

    private void grow(int end) {
        if (end > VhostUser.MAX_PAYLOAD) {
            throw new IllegalArgumentException("payload field ends at " + end + ", past " + VhostUser.MAX_PAYLOAD);
        }
        if (end > size()) {
            buffer.set(JAVA_INT_UNALIGNED, VhostUser.HEADER_SIZE_FIELD, end);
        }
    }

    /** A u64 payload (the whole payload). */
    public VhostUserMessage u64Payload(long v) {
        return size(0).putU64(0, v);
    }

    /** A vring state payload. */
    public VhostUserMessage statePayload(int index, int num) {
        return size(0).putU32(VhostUser.STATE_INDEX, index).putU32(VhostUser.STATE_NUM, num);
    }

    // ---------------------------------------------------------------------------------------
    // Fds

    /** How many fds came with (or go with) this message. */
    public int fdCount() {
        return fdCount;
    }

    /** Fd {@code i}, still owned by the message. */
    public int fd(int i) {
        if (i < 0 || i >= fdCount) {
            throw new VhostUserException(name() + ": needs fd " + i + ", the message carried " + fdCount);
        }
        return fds[i];
    }

    /** Takes fd {@code i} out of the message: the caller owns it now and the message will not close it. */
    public int takeFd(int i) {
        int fd = fd(i);
        if (fd < 0) {
            throw new VhostUserException(name() + ": fd " + i + " was already taken");
        }
        fds[i] = -1;
        return fd;
    }

    /** Attaches fds to send (the message does not own them: sending does not close them). */
    public VhostUserMessage withFds(int... toSend) {
        if (toSend.length > VhostUser.MAX_FDS) {
            throw new IllegalArgumentException(toSend.length + " fds; a message carries at most " + VhostUser.MAX_FDS);
        }
        closeFds();
        System.arraycopy(toSend, 0, fds, 0, toSend.length);
        fdCount = toSend.length;
        ownsFds = false;
        return this;
    }

    /** Closes the received fds nobody took, and forgets the ones to send. */
    public void closeFds() {
        for (int i = 0; i < fdCount; i++) {
            if (ownsFds && fds[i] >= 0) {
                Fds.closeQuietly(fds[i]);
            }
            fds[i] = -1;
        }
        fdCount = 0;
    }

    // For the channel.

    MemorySegment header() {
        return buffer.asSlice(0, VhostUser.HEADER_SIZE);
    }

    MemorySegment payloadSegment(int bytes) {
        return payload.asSlice(0, bytes);
    }

    MemorySegment wire() {
        return buffer.asSlice(0, VhostUser.HEADER_SIZE + size());
    }

    int[] fdArray() {
        return fds;
    }

    int[] fdsToSend() {
        return Arrays.copyOf(fds, fdCount);
    }

    void received(int count) {
        fdCount = count;
        ownsFds = true;
    }

    @Override
    public void close() {
        closeFds();
        arena.close();
    }

    @Override
    public String toString() {
        return "VhostUserMessage[" + name() + ", flags 0x" + Integer.toHexString(flags()) + ", "
                + Integer.toUnsignedString(size()) + " bytes, " + fdCount + " fds]";
    }
}
