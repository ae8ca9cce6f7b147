package org.mqblock.nbd;

import java.nio.ByteBuffer;
import org.mqblock.block.BlockRequest;
import org.mqblock.block.IoVector;

/**
 * One request slot of a connection, preallocated and reused: the block request itself, the
 * client's handle and command, the reply header, and a data buffer that grows to the largest
 * request the slot has carried (up to {@link #RETAIN_LIMIT}; larger one-off buffers are dropped
 * after use). A slot is taken when a request header is parsed and given back once its reply has
 * been written out completely, because the reply gathers this slot's header and data buffers.
 *
 * <p>Not threadsafe: owned by its connection's IOThread, except while the block layer holds it
 * (the hand-over is ordered by the queue, which runs in that same thread).
 */
final class NbdRequest extends BlockRequest {

    /** Data buffers up to this size stay with the slot; bigger ones are allocated per request. */
    static final int RETAIN_LIMIT = 2 << 20;
    private static final int MIN_DATA = 64 << 10;

    final int slot;
    /** Room for the longest reply header: a structured OFFSET_DATA chunk header with its offset. */
    final ByteBuffer replyHeader = ByteBuffer.allocateDirect(32);
    final IoVector iov = new IoVector(1);
    ByteBuffer data;

    // The parsed request.
    long handle;
    int type;
    int cmdFlags;
    long nbdOffset;
    int nbdLength;
    /** A write-type command with FUA whose flush is still to be issued after the write. */
    boolean fuaPending;
    /** Payload bytes of a write received so far. */
    int filled;

    /** Free-list link, connection-private. */
    NbdRequest nextFree;

    NbdRequest(int slot) {
        this.slot = slot;
    }

    /** A data buffer of at least {@code length} bytes, positioned at {@code [0, length)}. */
    ByteBuffer dataFor(int length) {
        ByteBuffer d = data;
        if (d == null || d.capacity() < length) {
            int cap = Math.max(MIN_DATA, Integer.highestOneBit(Math.max(1, length - 1)) << 1);
            if (cap < length) {
                cap = length; // lengths above 2^30
            }
            d = ByteBuffer.allocateDirect(cap);
            data = d;
        }
        d.limit(length).position(0);
        return d;
    }

    /** Drops a buffer too big to keep (called once the reply is out). */
    void trimData() {
        if (data != null && data.capacity() > RETAIN_LIMIT) {
            data = null;
        }
    }

    /**
     * Fills the reply header for {@code error}: a simple reply, or with structured replies one
     * chunk that ends the reply (OFFSET_DATA for a successful read, whose data follows; ERROR;
     * or NONE). The buffer is then ready to write.
     */
    ByteBuffer replyHeader(boolean structured, int error, boolean withData) {
        ByteBuffer h = replyHeader;
        h.clear(); // absolute puts are checked against the limit the previous reply left
        int length;
        if (!structured) {
            h.putInt(NbdProtocol.REPLY_OFF_MAGIC, NbdProtocol.SIMPLE_REPLY_MAGIC);
            h.putInt(NbdProtocol.REPLY_OFF_ERROR, error);
            h.putLong(NbdProtocol.REPLY_OFF_HANDLE, handle);
            length = NbdProtocol.SIMPLE_REPLY_LENGTH;
        } else {
            h.putInt(NbdProtocol.CHUNK_OFF_MAGIC, NbdProtocol.STRUCTURED_REPLY_MAGIC);
            h.putShort(NbdProtocol.CHUNK_OFF_FLAGS, (short) NbdProtocol.CHUNK_FLAG_DONE);
            h.putLong(NbdProtocol.CHUNK_OFF_HANDLE, handle);
            if (error != 0) {
                h.putShort(NbdProtocol.CHUNK_OFF_TYPE, (short) NbdProtocol.CHUNK_ERROR);
                h.putInt(NbdProtocol.CHUNK_OFF_LENGTH, 6);
                h.putInt(NbdProtocol.CHUNK_OFF_ERROR, error);
                h.putShort(NbdProtocol.CHUNK_OFF_ERROR_MESSAGE_LENGTH, (short) 0);
                length = NbdProtocol.STRUCTURED_REPLY_LENGTH + 6;
            } else if (withData) {
                h.putShort(NbdProtocol.CHUNK_OFF_TYPE, (short) NbdProtocol.CHUNK_OFFSET_DATA);
                h.putInt(NbdProtocol.CHUNK_OFF_LENGTH, 8 + nbdLength);
                h.putLong(NbdProtocol.CHUNK_OFF_DATA_OFFSET, nbdOffset);
                length = NbdProtocol.STRUCTURED_REPLY_LENGTH + 8;
            } else {
                h.putShort(NbdProtocol.CHUNK_OFF_TYPE, (short) NbdProtocol.CHUNK_NONE);
                h.putInt(NbdProtocol.CHUNK_OFF_LENGTH, 0);
                length = NbdProtocol.STRUCTURED_REPLY_LENGTH;
            }
        }
        h.limit(length).position(0);
        return h;
    }
}
