package org.mqblock.nbd;

import java.nio.ByteBuffer;
import org.mqblock.block.BlockRequest;
import org.mqblock.block.IoVector;

/**
 * One request slot of a connection, made when the connection first needs it and reused: the block
 * request itself, the client's handle and command, and the reply header. The data buffer (read or
 * write payload, block-status extents) is lent by the server's {@link NbdBufferPool} for this one
 * request and given back once the reply is out. A slot is taken when a request header is parsed and
 * given back once its reply has been written completely, because the reply gathers this slot's
 * header and data buffers.
 *
 * <p>Not threadsafe: owned by its connection's IOThread, except while the block layer or a
 * block-status worker holds it (the hand-over is ordered by the queue or the thread pool, which
 * complete in that same thread).
 */
final class NbdRequest extends BlockRequest {

    /** Room for the longest reply header: a structured OFFSET_DATA chunk header with its offset. */
    final ByteBuffer replyHeader = ByteBuffer.allocateDirect(32);
    final IoVector iov = new IoVector(1);
    /** Lent by the pool for this request, or null. */
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
    /** The error a refused write is answered with once its payload has been skipped. */
    int deferredError;
    /** Made on the first BLOCK_STATUS this slot carries. */
    NbdBlockStatusJob statusJob;

    /** Free-list link, connection-private. */
    NbdRequest nextFree;

    /** A block-status chunk header for {@code extents} extents, which follow in {@link #data}. */
    ByteBuffer blockStatusHeader(int extents) {
        ByteBuffer h = replyHeader;
        h.clear();
        h.putInt(NbdProtocol.CHUNK_OFF_MAGIC, NbdProtocol.STRUCTURED_REPLY_MAGIC);
        h.putShort(NbdProtocol.CHUNK_OFF_FLAGS, (short) NbdProtocol.CHUNK_FLAG_DONE);
        h.putShort(NbdProtocol.CHUNK_OFF_TYPE, (short) NbdProtocol.CHUNK_BLOCK_STATUS);
        h.putLong(NbdProtocol.CHUNK_OFF_HANDLE, handle);
        h.putInt(NbdProtocol.CHUNK_OFF_LENGTH, 4 + extents * NbdProtocol.EXTENT_LENGTH);
        h.putInt(NbdProtocol.CHUNK_OFF_CONTEXT_ID, NbdProtocol.META_ID_BASE_ALLOCATION);
        h.limit(NbdProtocol.CHUNK_OFF_CONTEXT_ID + 4).position(0);
        return h;
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
