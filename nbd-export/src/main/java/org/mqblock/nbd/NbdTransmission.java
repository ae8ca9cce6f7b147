package org.mqblock.nbd;

import java.nio.ByteBuffer;
import org.mqblock.block.BlockCompletion;
import org.mqblock.block.BlockQueue;
import org.mqblock.block.BlockRequest;
import org.mqblock.block.BlockStatus;

/**
 * The transmission phase of one connection (QEMU's {@code nbd_trip}): requests parsed from the
 * input, checked, handed to the connection's {@link BlockQueue} (BLOCK_STATUS to a worker of the
 * context's thread pool) and answered in whatever order they complete.
 *
 * <h2>What a client can make it hold</h2>
 * At most {@link #MAX_SLOTS} requests, and request data (payloads, extents) lent by the server's
 * {@link NbdBufferPool} up to the connection's budget ({@link NbdLimits#connectionBufferBytes})
 * and the pool's; a request that would pass either is not parsed until replies have gone out and
 * given their buffers back. A refused write's payload is skipped through the input buffer, never
 * stored.
 *
 * <h2>Bad input</h2>
 * Anything that can be answered is answered (unknown command or flag, out-of-range read, oversized
 * request, BLOCK_STATUS without {@code base:allocation}: {@code EINVAL}; write past the end:
 * {@code ENOSPC}; write to a read-only export: {@code EPERM}; any request once the server shuts
 * down: {@code ESHUTDOWN}). The error reply to a refused write goes out only after its payload has
 * been read: libnbd matches a reply only to a request it has finished sending, and drops the
 * connection otherwise. A bad magic closes the connection. Replies are only sent after the block
 * layer completed the request.
 *
 * <p>Not threadsafe: the connection's IOThread only, except {@link #poolHasRoom}.
 */
final class NbdTransmission implements BlockCompletion, NbdBufferPool.Waiter {

    static final int MAX_SLOTS = 128;
    /** A write payload at least this long, with nothing else buffered, is read straight into its buffer. */
    private static final int DIRECT_PAYLOAD = 64 << 10;

    private final NbdConnection conn;
    private final NbdExport export;
    private final BlockQueue queue;
    private final NbdBufferPool pool;
    private final long budget;
    private final long exportSize;
    private final int maxBlock;
    private final boolean structured;
    private final boolean allocationContext;

    // Everything below: the connection's context thread only, plain.
    private int slotsMade;
    private NbdRequest freeSlots;
    /** Slots the block layer or the thread pool holds now. */
    private int inFlight;
    /** Capacity of the pool buffers this connection holds. */
    private long held;
    /** Bytes of input to drop (a refused write's payload). */
    private long skipLeft;
    /** The refused write answered once its payload is skipped, or null. */
    private NbdRequest skipReply;
    /** The write whose payload is being received, or null. */
    private NbdRequest payloadSlot;

    NbdTransmission(NbdConnection conn, NbdExport export, boolean structured, boolean allocationContext) {
        this.conn = conn;
        this.export = export;
        this.queue = export.acquireQueue(conn.context());
        this.pool = conn.server().bufferPool();
        this.budget = conn.server().limits().connectionBufferBytes();
        this.exportSize = export.size();
        this.maxBlock = export.maxBlockSize();
        this.structured = structured;
        this.allocationContext = allocationContext;
    }

    /** Nothing is in the block layer or the thread pool. */
    boolean idle() {
        return inFlight == 0;
    }

    /** No payload is being received or skipped. */
    boolean betweenMessages() {
        return payloadSlot == null && skipLeft == 0;
    }

    boolean midMessage() {
        return !betweenMessages();
    }

    /** The connection closes: a partly received request is dropped. */
    void dropPartialRequest() {
        if (payloadSlot != null) {
            releaseSlot(payloadSlot);
            payloadSlot = null;
        }
        if (skipReply != null) {
            releaseSlot(skipReply);
            skipReply = null;
        }
        skipLeft = 0;
    }

    /** Everything is back (the connection finishes). */
    void finish() {
        pool.cancel(this);
        export.releaseQueue(queue);
    }

    // ---------------------------------------------------------------------------------------
    // Input

    /** Consumes the complete requests in {@code in[rd, end)}; returns where the unconsumed input starts. */
    int parse(ByteBuffer in, int rd, int end) {
        while (conn.reading() && !conn.readPaused()) {
            int avail = end - rd;
            if (skipLeft > 0) {
                int n = (int) Math.min(skipLeft, avail);
                rd += n;
                skipLeft -= n;
                if (skipLeft > 0) {
                    return rd;
                }
                if (skipReply != null) {
                    NbdRequest s = skipReply;
                    skipReply = null;
                    reply(s, s.deferredError, false);
                }
                continue;
            }
            if (payloadSlot != null) {
                NbdRequest s = payloadSlot;
                int n = Math.min(avail, s.nbdLength - s.filled);
                s.data.put(s.filled, in, rd, n);
                s.filled += n;
                rd += n;
                if (s.filled < s.nbdLength) {
                    return rd;
                }
                payloadSlot = null;
                payloadComplete(s);
                continue;
            }
            if (avail < NbdProtocol.REQUEST_LENGTH) {
                return rd;
            }
            if (!request(in, rd)) {
                return rd; // paused or closed
            }
            rd += NbdProtocol.REQUEST_LENGTH;
        }
        return rd;
    }

    /** A large write payload's buffer, positioned where the next bytes go, or null. */
    ByteBuffer directPayloadTarget() {
        NbdRequest s = payloadSlot;
        if (s == null || s.nbdLength - s.filled < DIRECT_PAYLOAD) {
            return null;
        }
        return s.data.limit(s.nbdLength).position(s.filled);
    }

    void directPayloadReceived(int n) {
        NbdRequest s = payloadSlot;
        s.filled += n;
        if (s.filled == s.nbdLength) {
            payloadSlot = null;
            payloadComplete(s);
        }
    }

    /**
     * Takes the request header at {@code at}; returns false, consuming nothing, when the request
     * must wait (no slot, no buffer) or the connection closed.
     */
    private boolean request(ByteBuffer in, int at) {
        if (in.getInt(at + NbdProtocol.REQ_OFF_MAGIC) != NbdProtocol.REQUEST_MAGIC) {
            conn.abort("bad request magic 0x" + Integer.toHexString(in.getInt(at)));
            return false;
        }
        int flags = in.getShort(at + NbdProtocol.REQ_OFF_FLAGS) & 0xffff;
        int type = in.getShort(at + NbdProtocol.REQ_OFF_TYPE) & 0xffff;
        long offset = in.getLong(at + NbdProtocol.REQ_OFF_OFFSET);
        long length = in.getInt(at + NbdProtocol.REQ_OFF_LENGTH) & 0xffffffffL;
        if (type == NbdProtocol.CMD_DISC) {
            conn.closeAfterOutput(); // no reply; what is in flight still completes and answers;
            return true;             // nothing after it is read
        }
        if (freeSlots == null && slotsMade == MAX_SLOTS) {
            conn.pauseReading(); // resumed when a reply has gone out
            return false;
        }
        int error = conn.shuttingDown() ? NbdProtocol.ESHUTDOWN : check(type, flags, offset, length);
        int bufferLength = error != 0 ? 0 : switch (type) {
            case NbdProtocol.CMD_READ, NbdProtocol.CMD_WRITE -> (int) length;
            case NbdProtocol.CMD_BLOCK_STATUS -> NbdBlockStatusJob.bufferLength(flags);
            default -> 0;
        };
        ByteBuffer data = null;
        if (bufferLength > 0) {
            if (held > 0 && held + NbdBufferPool.classSize(bufferLength) > budget) {
                conn.pauseReading(); // over this connection's budget: resumed as its replies drain
                return false;
            }
            data = pool.take(bufferLength, this);
            if (data == null) {
                conn.pauseReading(); // over the server's budget: resumed by poolHasRoom
                return false;
            }
            held += data.capacity();
        }
        NbdRequest s = takeSlot();
        s.handle = in.getLong(at + NbdProtocol.REQ_OFF_HANDLE);
        s.type = type;
        s.cmdFlags = flags;
        s.nbdOffset = offset;
        s.nbdLength = (int) Math.min(length, Integer.MAX_VALUE);
        s.fuaPending = false;
        s.filled = 0;
        s.data = data;
        if (error != 0) {
            if (type == NbdProtocol.CMD_WRITE && length > 0) {
                skipLeft = length; // the payload follows regardless; answered once it is read
                s.deferredError = error;
                skipReply = s;
            } else {
                reply(s, error, false);
            }
            return true;
        }
        if (length == 0 && type != NbdProtocol.CMD_FLUSH) {
            reply(s, 0, false); // nothing to do; the block layer is not asked
            return true;
        }
        s.fuaPending = (flags & NbdProtocol.CMD_FLAG_FUA) != 0 && type != NbdProtocol.CMD_READ
                && type != NbdProtocol.CMD_CACHE;
        switch (type) {
            case NbdProtocol.CMD_READ -> {
                s.iov.clear().add(data);
                s.read(offset, s.iov, this);
                submit(s);
            }
            case NbdProtocol.CMD_WRITE -> payloadSlot = s; // submitted once its payload is in
            case NbdProtocol.CMD_FLUSH -> {
                s.fuaPending = false;
                s.flush(this);
                submit(s);
            }
            case NbdProtocol.CMD_TRIM -> {
                s.discard(offset, length, this);
                submit(s);
            }
            case NbdProtocol.CMD_WRITE_ZEROES -> {
                s.writeZeroes(offset, length, this);
                submit(s);
            }
            // Advisory: every driver here reads from RAM or the page cache, so there is nothing to
            // prefetch; the range was checked like a read's.
            case NbdProtocol.CMD_CACHE -> reply(s, 0, false);
            case NbdProtocol.CMD_BLOCK_STATUS -> {
                if (s.statusJob == null) {
                    s.statusJob = new NbdBlockStatusJob(s, this, export.node().driver());
                }
                inFlight++;
                conn.context().threadPool().submit(s.statusJob);
            }
            default -> throw new AssertionError(type);
        }
        return true;
    }

    /** The NBD error for a request the block layer need not see, or 0. */
    private int check(int type, int flags, long offset, long length) {
        int allowedFlags = NbdProtocol.CMD_FLAG_FUA;
        boolean writes = false;
        boolean payloadSized = false;
        switch (type) {
            case NbdProtocol.CMD_READ -> {
                payloadSized = true;
                if (structured) {
                    allowedFlags |= NbdProtocol.CMD_FLAG_DF; // a read is always one chunk here
                }
            }
            case NbdProtocol.CMD_WRITE -> {
                writes = true;
                payloadSized = true;
            }
            case NbdProtocol.CMD_FLUSH -> {
                return (flags & ~allowedFlags) != 0 ? NbdProtocol.EINVAL : 0;
            }
            case NbdProtocol.CMD_TRIM -> writes = true;
            case NbdProtocol.CMD_WRITE_ZEROES -> {
                writes = true;
                // Fast: WRITE_ZEROES is only offered where the driver zeroes natively (memset,
                // fallocate), never by writing a buffer of zeros.
                allowedFlags |= NbdProtocol.CMD_FLAG_NO_HOLE | NbdProtocol.CMD_FLAG_FAST_ZERO;
            }
            case NbdProtocol.CMD_CACHE -> { }
            case NbdProtocol.CMD_BLOCK_STATUS -> {
                if (!structured || !allocationContext || length == 0) {
                    return NbdProtocol.EINVAL; // no base:allocation negotiated, or nothing asked
                }
                allowedFlags = NbdProtocol.CMD_FLAG_REQ_ONE;
            }
            default -> {
                return NbdProtocol.EINVAL; // unknown command
            }
        }
        if ((flags & ~allowedFlags) != 0) {
            return NbdProtocol.EINVAL;
        }
        if (writes && export.readOnly()) {
            return NbdProtocol.EPERM;
        }
        if (payloadSized && length > maxBlock) {
            return NbdProtocol.EINVAL; // oversized: the spec's answer when past the maximum block size
        }
        if (offset < 0 || offset > exportSize - length) {
            // Past the end: a write that would need more room is ENOSPC, anything else EINVAL.
            return type == NbdProtocol.CMD_WRITE || type == NbdProtocol.CMD_WRITE_ZEROES
                    ? NbdProtocol.ENOSPC : NbdProtocol.EINVAL;
        }
        return 0;
    }

    private void payloadComplete(NbdRequest s) {
        if (conn.shuttingDown()) {
            reply(s, NbdProtocol.ESHUTDOWN, false); // parsed, but the server stops serving
            return;
        }
        ByteBuffer d = s.data;
        d.limit(s.nbdLength).position(0);
        s.iov.clear().add(d);
        s.write(s.nbdOffset, s.iov, this);
        submit(s);
    }

    private void submit(NbdRequest s) {
        inFlight++;
        queue.submit(s);
    }

    // ---------------------------------------------------------------------------------------
    // Completion and replies

    /** Block-layer completion, in this connection's thread, usually inside a DeferCall region. */
    @Override
    public void complete(BlockRequest r) {
        NbdRequest s = (NbdRequest) r;
        inFlight--;
        if (conn.isClosed()) {
            releaseSlot(s);
            conn.maybeFinish();
            return;
        }
        int status = r.status();
        if (status == BlockStatus.OK && s.fuaPending) {
            s.fuaPending = false; // forced unit access: the write is durable once this flush is
            s.flush(this);
            submit(s);
            return;
        }
        reply(s, NbdProtocol.errorOf(status), status == BlockStatus.OK && s.type == NbdProtocol.CMD_READ);
    }

    /** A BLOCK_STATUS walk is done: {@code extents} of them in the slot's buffer, or a negative errno. */
    void blockStatusDone(NbdRequest s, int extents) {
        inFlight--;
        if (conn.isClosed()) {
            releaseSlot(s);
            conn.maybeFinish();
            return;
        }
        if (extents <= 0) {
            reply(s, NbdProtocol.EIO, false);
            return;
        }
        conn.queueReply(s.blockStatusHeader(extents), null);
        s.data.limit(extents * NbdProtocol.EXTENT_LENGTH).position(0);
        conn.queueReply(s.data, s);
        conn.replyQueued();
    }

    private void reply(NbdRequest s, int error, boolean withData) {
        if (withData) {
            conn.queueReply(s.replyHeader(structured, error, true), null);
            s.data.limit(s.nbdLength).position(0);
            conn.queueReply(s.data, s);
        } else {
            conn.queueReply(s.replyHeader(structured, error, false), s);
        }
        conn.replyQueued();
    }

    /** The reply queue wrote (or dropped) the last buffer of {@code s}'s reply. */
    void replyDone(NbdRequest s) {
        releaseSlot(s);
    }

    private NbdRequest takeSlot() {
        NbdRequest s = freeSlots;
        if (s == null) {
            s = new NbdRequest(); // made on first need: an idle connection holds none
            slotsMade++;
        } else {
            freeSlots = s.nextFree;
            s.nextFree = null;
        }
        return s;
    }

    private void releaseSlot(NbdRequest s) {
        if (s.data != null) {
            held -= s.data.capacity();
            pool.give(s.data);
            s.data = null;
        }
        s.nextFree = freeSlots;
        freeSlots = s;
        conn.scheduleResume();
    }

    /** The pool has room again. Context: any thread (the one that gave a buffer back). */
    @Override
    public void poolHasRoom() {
        conn.resumeFromAnyThread();
    }
}
