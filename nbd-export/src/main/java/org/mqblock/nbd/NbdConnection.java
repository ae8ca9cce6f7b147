package org.mqblock.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import org.mqblock.block.BlockCompletion;
import org.mqblock.block.BlockQueue;
import org.mqblock.block.BlockRequest;
import org.mqblock.block.BlockStatus;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.BottomHalf;
import org.mqblock.core.loop.FdWatch;
import org.mqblock.core.loop.DeferCall;
import org.mqblock.core.loop.Timer;

/**
 * One client connection, served entirely in one IOThread's {@link AioContext}: the newstyle fixed
 * handshake, then transmission through the connection's {@link BlockQueue} (see {@link NbdExport}
 * for how it gets one).
 *
 * <h2>Pipelining</h2>
 * Each readiness event reads as much as the input buffer holds and parses every complete request
 * in it, submitting each to the queue at once. Requests complete in any order; each completion
 * queues its reply (header, plus the slot's data buffer for a read) and defers one {@link #flusher}
 * call, so all replies completed in one batch (the queue completes a batch inside one {@link
 * DeferCall} region) leave in one gathering write, after which the connection looks once for
 * more requests without waiting for the selector ({@link #flushAndPeek}). A short write arms the write handler and the
 * rest goes when the socket drains. Slots are preallocated ({@link NbdRequest}); with all of them
 * busy, reading pauses until a reply has gone out, so a client cannot make the server buffer
 * without bound.
 *
 * <h2>Bad input</h2>
 * Anything that can be answered is answered (unknown option: {@code ERR_UNSUP}; unknown command or
 * flag, out-of-range read, oversized request: {@code EINVAL}; write past the end: {@code ENOSPC};
 * write to a read-only export: {@code EPERM}), and the payload of a refused write is read and
 * dropped so the stream stays in step. What cannot be answered (a bad magic, unknown client flags,
 * an unknown export in {@code EXPORT_NAME}, end of stream) closes this connection only. Requests
 * already in the block layer always run to completion before the connection lets go of its queue,
 * and replies (acknowledgements) are only sent after the block layer completed the request.
 *
 * <p>Context: everything runs in the connection's context thread ({@link #start}, {@link
 * #shutdown} and {@link #abort} are scheduled there by the server). Not threadsafe otherwise.
 */
final class NbdConnection implements BlockCompletion {

    static final int MAX_SLOTS = 128;
    static final int INPUT_CAPACITY = 256 << 10;
    /** Largest option payload buffered; longer ones are refused with ERR_TOO_BIG and skipped. */
    static final int MAX_OPTION_DATA = 4 + NbdProtocol.MAX_STRING + 2 + 2 * 64;
    /** A write payload at least this long, with nothing else buffered, is read straight into its slot. */
    private static final int DIRECT_PAYLOAD = 64 << 10;
    /** Reads per readiness event before letting other connections of this IOThread run. */
    private static final int READS_PER_EVENT = 4;
    private static final long RESUME_RETRY_NS = 1_000_000;

    private static final int S_FLAGS = 0;       // waiting for the client's 4 flag bytes
    private static final int S_OPTIONS = 1;     // option haggling
    private static final int S_TRANSMISSION = 2;
    private static final int S_CLOSING = 3;     // no more requests: finish what is in flight, then close
    private static final int S_CLOSED = 4;      // socket gone; waiting for the block layer to give slots back
    private static final int S_FINISHED = 5;

    private final NbdServer server;
    private final SocketChannel channel;
    private final AioContext ctx;
    private final int ctxIndex;
    private final String peer;

    // Everything below: the connection's context thread only, plain.
    private final ByteBuffer in = ByteBuffer.allocateDirect(INPUT_CAPACITY);
    /** Start of unparsed input; {@code in.position()} is its end. */
    private int rd;
    private final ByteBuffer ctl = ByteBuffer.allocateDirect(64 << 10);
    private final NbdRequest[] slots = new NbdRequest[MAX_SLOTS];
    private NbdRequest freeSlots;
    private int slotsInUse;
    /** Slots the block layer holds now. */
    private int blockInFlight;

    private final ByteBuffer[] out = new ByteBuffer[2 * MAX_SLOTS + 4];
    /** Slot to give back once out[i] has been written (its last buffer), else null. */
    private final NbdRequest[] outOwner = new NbdRequest[out.length];
    private int outHead;
    private int outTail;
    private boolean writeArmed;
    private boolean readPaused;

    private int state = S_FLAGS;
    private boolean noZeroes;
    private boolean clientAborted;
    /** Negotiated with OPT_STRUCTURED_REPLY: every reply is one chunk with the DONE flag. */
    private boolean structured;
    private NbdExport export;
    private BlockQueue queue;
    private long exportSize;
    private int maxBlock;
    /** Bytes of input to drop (a refused write's payload, an oversized option). */
    private long skipLeft;
    /** The write whose payload is being received, or null. */
    private NbdRequest payloadSlot;

    private FdWatch watch;
    private BottomHalf resumeBh;
    /** Retries {@link #resume} while a drained section silences this context's clients. */
    private Timer resumeTimer;
    private final Runnable onReadable = this::onReadable;
    private final Runnable onWritable = this::flushOutput;
    /** Deferred once per batch of completions: the same instance each time, so DeferCall coalesces. */
    private final Runnable flusher = this::flushAndPeek;
    /** True while {@link #flushAndPeek} reads, so that nothing it runs reads again. */
    private boolean peeking;

    NbdConnection(NbdServer server, SocketChannel channel, AioContext ctx, int ctxIndex, String peer) {
        this.server = server;
        this.channel = channel;
        this.ctx = ctx;
        this.ctxIndex = ctxIndex;
        this.peer = peer;
        for (int i = MAX_SLOTS - 1; i >= 0; i--) {
            slots[i] = new NbdRequest(i);
            slots[i].nextFree = freeSlots;
            freeSlots = slots[i];
        }
    }

    AioContext context() {
        return ctx;
    }

    int contextIndex() {
        return ctxIndex;
    }

    String peer() {
        return peer;
    }

    // ---------------------------------------------------------------------------------------
    // Life cycle

    /** Watches the socket and sends the greeting. Context: the connection's thread. */
    void start() {
        assert ctx.inHomeThread();
        if (state != S_FLAGS) {
            return;
        }
        try {
            watch = ctx.watchChannel(channel, true, onReadable, null);
            // A handler that throws (an OutOfMemoryError for this client's buffers, a bug) ends
            // this connection only; the IOThread goes on serving the others.
            watch.setFailureHandler(failure -> abort("internal error: " + failure));
        } catch (RuntimeException e) {
            server.log("nbd: " + peer + ": cannot watch the socket: " + e.getMessage());
            closeSocket();
            finish();
            return;
        }
        resumeBh = ctx.newBottomHalf("nbd-resume " + peer, this::resume);
        resumeTimer = ctx.newTimer("nbd-resume " + peer, this::resume);
        ctl.clear();
        ctl.putLong(NbdProtocol.NBDMAGIC).putLong(NbdProtocol.IHAVEOPT)
                .putShort((short) (NbdProtocol.FLAG_FIXED_NEWSTYLE | NbdProtocol.FLAG_NO_ZEROES));
        sendControl();
    }

    /**
     * Server shutdown: take no new requests, finish those in flight, send their replies, close.
     * A connection still in the handshake closes at once. Context: the connection's thread.
     */
    void shutdown() {
        if (state == S_TRANSMISSION) {
            enterClosing();
        } else if (state < S_TRANSMISSION) {
            abort(null);
        }
    }

    private void enterClosing() {
        state = S_CLOSING;
        dropPartialRequest();
        if (watch != null) {
            watch.setReadHandler(null); // a vanished client still shows as a failed write
        }
        maybeCloseGracefully();
    }

    private void maybeCloseGracefully() {
        if (state == S_CLOSING && blockInFlight == 0 && outHead == outTail) {
            abort(null);
        }
    }

    /**
     * Closes the socket now (a protocol violation, the client vanishing, or the end of a graceful
     * close). Requests in the block layer still complete; their replies are dropped, and the queue
     * is given back after the last one. Context: the connection's thread.
     */
    void abort(String reason) {
        if (state >= S_CLOSED) {
            return;
        }
        if (reason != null) {
            server.log("nbd: " + peer + ": closing: " + reason);
        }
        state = S_CLOSED;
        dropPartialRequest();
        for (int i = outHead; i < outTail; i++) {
            NbdRequest owner = outOwner[i];
            out[i] = null;
            outOwner[i] = null;
            if (owner != null) {
                releaseSlot(owner);
            }
        }
        outHead = outTail = 0;
        closeSocket();
        if (blockInFlight == 0) {
            finish();
        }
    }

    private void dropPartialRequest() {
        if (payloadSlot != null) {
            releaseSlot(payloadSlot);
            payloadSlot = null;
        }
        skipLeft = 0;
    }

    private void closeSocket() {
        if (watch != null) {
            watch.close();
        }
        try {
            channel.close();
        } catch (IOException e) {
            // nothing more to tell the peer
        }
    }

    private void finish() {
        if (state == S_FINISHED) {
            return;
        }
        state = S_FINISHED;
        if (resumeBh != null) {
            resumeTimer.cancel();
            resumeBh.delete();
        }
        if (queue != null) {
            export.releaseQueue(queue);
            queue = null;
        }
        server.connectionClosed(this);
    }

    // ---------------------------------------------------------------------------------------
    // Input

    private void onReadable() {
        readInput();
    }

    /** Reads and parses what the socket has; returns the bytes read (0: nothing there, -1: closed). */
    private int readInput() {
        int total = 0;
        DeferCall.begin(); // replies produced while parsing leave in one write
        try {
            for (int i = 0; i < READS_PER_EVENT && state <= S_TRANSMISSION && !readPaused; i++) {
                if (payloadSlot != null && rd == in.position()) {
                    int r = readPayloadDirect();
                    if (r < 0) {
                        return -1;
                    }
                    if (r == 0) {
                        break;
                    }
                    total += r;
                    continue;
                }
                compactInput();
                int n = channel.read(in);
                if (n < 0) {
                    abort(rd == in.position() && payloadSlot == null && skipLeft == 0 ? null
                            : "client went away in the middle of a message");
                    return -1;
                }
                if (n == 0) {
                    break;
                }
                total += n;
                parse();
                if (in.hasRemaining()) {
                    break; // the socket had less than a buffer full: it is drained
                }
            }
        } catch (IOException e) {
            abort("read failed: " + e.getMessage());
            return -1;
        } finally {
            DeferCall.end();
        }
        return total;
    }

    /** Reads a large write payload straight into its slot; returns -1 on end of stream, else bytes read. */
    private int readPayloadDirect() throws IOException {
        NbdRequest s = payloadSlot;
        int left = s.nbdLength - s.filled;
        if (left < DIRECT_PAYLOAD) {
            compactInput();
            int n = channel.read(in);
            if (n < 0) {
                abort("client went away in the middle of a write payload");
                return -1;
            }
            if (n > 0) {
                parse();
            }
            return n;
        }
        ByteBuffer d = s.data;
        d.limit(s.nbdLength).position(s.filled);
        int n = channel.read(d);
        if (n < 0) {
            abort("client went away in the middle of a write payload");
            return -1;
        }
        s.filled += n;
        if (s.filled == s.nbdLength) {
            payloadSlot = null;
            submitWrite(s);
        }
        return n;
    }

    private void compactInput() {
        int end = in.position();
        if (rd == end) {
            in.clear();
            rd = 0;
        } else if (rd > 0) {
            in.limit(end).position(rd);
            in.compact(); // leaves position at the end of the moved bytes
            rd = 0;
        }
    }

    /** Runs when a paused connection may go on (a slot came free, output drained). */
    private void resume() {
        if (state > S_TRANSMISSION || !readPaused) {
            return;
        }
        if (ctx.externalDisabled()) {
            // A drained section: buffered requests must not start now. The socket watch is
            // silenced too, so nothing else would bring us back: look again in a millisecond.
            resumeTimer.armAfter(RESUME_RETRY_NS);
            return;
        }
        readPaused = false;
        watch.setReadHandler(onReadable);
        DeferCall.begin();
        try {
            parse(); // requests already buffered get no new readiness event
        } finally {
            DeferCall.end();
        }
    }

    private void pauseReading() {
        if (!readPaused) {
            readPaused = true;
            watch.setReadHandler(null);
        }
    }

    /** Consumes every complete message in the input buffer. */
    private void parse() {
        while (state <= S_TRANSMISSION && !readPaused) {
            int avail = in.position() - rd;
            if (skipLeft > 0) {
                int n = (int) Math.min(skipLeft, avail);
                rd += n;
                skipLeft -= n;
                if (skipLeft > 0) {
                    return;
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
                    return;
                }
                payloadSlot = null;
                submitWrite(s);
                continue;
            }
            switch (state) {
                case S_FLAGS -> {
                    if (avail < NbdProtocol.CLIENT_FLAGS_LENGTH) {
                        return;
                    }
                    int flags = in.getInt(rd);
                    rd += NbdProtocol.CLIENT_FLAGS_LENGTH;
                    if ((flags & ~NbdProtocol.CLIENT_FLAGS_KNOWN) != 0) {
                        abort("unknown client flags 0x" + Integer.toHexString(flags));
                        return;
                    }
                    noZeroes = (flags & NbdProtocol.CLIENT_FLAG_NO_ZEROES) != 0;
                    state = S_OPTIONS;
                }
                case S_OPTIONS -> {
                    if (outHead != outTail) {
                        pauseReading(); // the control buffer is still going out; resumed when it has
                        return;
                    }
                    if (!parseOption(avail)) {
                        return;
                    }
                }
                case S_TRANSMISSION -> {
                    if (avail < NbdProtocol.REQUEST_LENGTH) {
                        return;
                    }
                    if (freeSlots == null) {
                        pauseReading();
                        return;
                    }
                    parseRequest();
                }
                default -> {
                    return;
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Handshake

    /** Handles one option if it is complete; returns false when more input is needed. */
    private boolean parseOption(int avail) {
        if (avail < NbdProtocol.OPT_HEADER_LENGTH) {
            return false;
        }
        if (in.getLong(rd + NbdProtocol.OPT_OFF_MAGIC) != NbdProtocol.IHAVEOPT) {
            abort("bad option magic");
            return false;
        }
        int option = in.getInt(rd + NbdProtocol.OPT_OFF_OPTION);
        long length = in.getInt(rd + NbdProtocol.OPT_OFF_LENGTH) & 0xffffffffL;
        if (length > MAX_OPTION_DATA) {
            rd += NbdProtocol.OPT_HEADER_LENGTH;
            if (option == NbdProtocol.OPT_EXPORT_NAME) {
                abort("export name of " + length + " bytes"); // this option has no error reply
                return false;
            }
            skipLeft = length;
            ctl.clear();
            optionError(option, NbdProtocol.REP_ERR_TOO_BIG, "option data of " + length + " bytes is too long");
            sendControl();
            return true;
        }
        if (avail < NbdProtocol.OPT_HEADER_LENGTH + length) {
            return false;
        }
        int data = rd + NbdProtocol.OPT_HEADER_LENGTH;
        int len = (int) length;
        rd = data + len;
        ctl.clear();
        switch (option) {
            case NbdProtocol.OPT_EXPORT_NAME -> {
                NbdExport e = server.export(string(data, len));
                if (e == null) {
                    abort("unknown export '" + string(data, len) + "' in EXPORT_NAME");
                    return false;
                }
                enterTransmission(e);
                ctl.putLong(exportSize).putShort((short) e.transmissionFlags());
                if (!noZeroes) {
                    ctl.put(new byte[NbdProtocol.EXPORT_NAME_REPLY_ZEROES]);
                }
            }
            case NbdProtocol.OPT_ABORT -> {
                optionReply(option, NbdProtocol.REP_ACK, 0);
                clientAborted = true;
                sendControl();
                enterClosing(); // closes once the ACK is out
                return false;
            }
            case NbdProtocol.OPT_LIST -> {
                if (len != 0) {
                    optionError(option, NbdProtocol.REP_ERR_INVALID, "LIST takes no data");
                } else {
                    for (NbdExport e : server.exports()) {
                        byte[] name = e.name().getBytes(StandardCharsets.UTF_8);
                        optionReply(option, NbdProtocol.REP_SERVER, 4 + name.length);
                        ctl.putInt(name.length).put(name);
                    }
                    optionReply(option, NbdProtocol.REP_ACK, 0);
                }
            }
            case NbdProtocol.OPT_INFO, NbdProtocol.OPT_GO -> infoOrGo(option, data, len);
            case NbdProtocol.OPT_STRUCTURED_REPLY -> {
                if (len != 0) {
                    optionError(option, NbdProtocol.REP_ERR_INVALID, "STRUCTURED_REPLY takes no data");
                } else if (structured) {
                    optionError(option, NbdProtocol.REP_ERR_INVALID, "structured replies already negotiated");
                } else {
                    structured = true;
                    optionReply(option, NbdProtocol.REP_ACK, 0);
                }
            }
            default -> optionError(option, NbdProtocol.REP_ERR_UNSUP,
                    "option " + option + " is not supported");
        }
        sendControl();
        return true;
    }

    private void infoOrGo(int option, int data, int len) {
        if (len < 6) {
            optionError(option, NbdProtocol.REP_ERR_INVALID, "option data too short");
            return;
        }
        long nameLen = in.getInt(data) & 0xffffffffL;
        if (nameLen > len - 6) {
            optionError(option, NbdProtocol.REP_ERR_INVALID, "name length " + nameLen + " past the option data");
            return;
        }
        String name = string(data + 4, (int) nameLen);
        int infosAt = data + 4 + (int) nameLen;
        int infos = in.getShort(infosAt) & 0xffff;
        if (4 + nameLen + 2 + 2L * infos != len) {
            optionError(option, NbdProtocol.REP_ERR_INVALID, "option length does not match its " + infos + " info requests");
            return;
        }
        NbdExport e = server.export(name);
        if (e == null) {
            optionError(option, NbdProtocol.REP_ERR_UNKNOWN, "no export named '" + name + "'");
            return;
        }
        boolean wantName = false;
        boolean wantDescription = false;
        for (int i = 0; i < infos; i++) {
            int type = in.getShort(infosAt + 2 + 2 * i) & 0xffff;
            wantName |= type == NbdProtocol.INFO_NAME;
            wantDescription |= type == NbdProtocol.INFO_DESCRIPTION;
        }
        if (wantName) {
            byte[] n = e.name().getBytes(StandardCharsets.UTF_8);
            optionReply(option, NbdProtocol.REP_INFO, 2 + n.length);
            ctl.putShort((short) NbdProtocol.INFO_NAME).put(n);
        }
        if (wantDescription && !e.description().isEmpty()) {
            byte[] d = e.description().getBytes(StandardCharsets.UTF_8);
            optionReply(option, NbdProtocol.REP_INFO, 2 + d.length);
            ctl.putShort((short) NbdProtocol.INFO_DESCRIPTION).put(d);
        }
        // Always sent: a client that cannot honour the minimum must not use the export.
        optionReply(option, NbdProtocol.REP_INFO, 14);
        ctl.putShort((short) NbdProtocol.INFO_BLOCK_SIZE)
                .putInt(e.minBlockSize()).putInt(e.preferredBlockSize()).putInt(e.maxBlockSize());
        optionReply(option, NbdProtocol.REP_INFO, 12);
        ctl.putShort((short) NbdProtocol.INFO_EXPORT).putLong(e.size()).putShort((short) e.transmissionFlags());
        optionReply(option, NbdProtocol.REP_ACK, 0);
        if (option == NbdProtocol.OPT_GO) {
            enterTransmission(e);
        }
    }

    private void enterTransmission(NbdExport e) {
        export = e;
        queue = e.acquireQueue(ctx);
        exportSize = e.size();
        maxBlock = e.maxBlockSize();
        state = S_TRANSMISSION;
    }

    private void optionReply(int option, int type, int length) {
        ctl.putLong(NbdProtocol.OPT_REPLY_MAGIC).putInt(option).putInt(type).putInt(length);
    }

    private void optionError(int option, int type, String message) {
        byte[] m = message.getBytes(StandardCharsets.UTF_8);
        optionReply(option, type, m.length);
        ctl.put(m);
    }

    private String string(int at, int len) {
        byte[] b = new byte[len];
        in.get(at, b);
        return new String(b, StandardCharsets.UTF_8);
    }

    /** Queues the control buffer as built so far and writes it. */
    private void sendControl() {
        if (state >= S_CLOSED) {
            return;
        }
        ctl.flip();
        appendOutput(ctl, null);
        flushOutput();
    }

    // ---------------------------------------------------------------------------------------
    // Transmission

    private void parseRequest() {
        int at = rd;
        rd += NbdProtocol.REQUEST_LENGTH;
        if (in.getInt(at + NbdProtocol.REQ_OFF_MAGIC) != NbdProtocol.REQUEST_MAGIC) {
            abort("bad request magic 0x" + Integer.toHexString(in.getInt(at)));
            return;
        }
        int flags = in.getShort(at + NbdProtocol.REQ_OFF_FLAGS) & 0xffff;
        int type = in.getShort(at + NbdProtocol.REQ_OFF_TYPE) & 0xffff;
        long offset = in.getLong(at + NbdProtocol.REQ_OFF_OFFSET);
        long length = in.getInt(at + NbdProtocol.REQ_OFF_LENGTH) & 0xffffffffL;

        if (type == NbdProtocol.CMD_DISC) {
            enterClosing(); // no reply; what is in flight still completes and answers
            return;
        }
        NbdRequest s = takeSlot();
        s.handle = in.getLong(at + NbdProtocol.REQ_OFF_HANDLE);
        s.type = type;
        s.cmdFlags = flags;
        s.nbdOffset = offset;
        s.nbdLength = (int) Math.min(length, Integer.MAX_VALUE);
        s.fuaPending = false;
        s.filled = 0;

        int error = check(type, flags, offset, length);
        if (error != 0) {
            if (type == NbdProtocol.CMD_WRITE) {
                skipLeft = length; // keep the stream in step: the payload follows regardless
            }
            reply(s, error, false);
            return;
        }
        if (length == 0 && type != NbdProtocol.CMD_FLUSH) {
            reply(s, 0, false); // nothing to do; the block layer is not asked
            return;
        }
        s.fuaPending = (flags & NbdProtocol.CMD_FLAG_FUA) != 0 && type != NbdProtocol.CMD_READ;
        switch (type) {
            case NbdProtocol.CMD_READ -> {
                s.iov.clear().add(s.dataFor(s.nbdLength));
                s.read(offset, s.iov, this);
                submit(s);
            }
            case NbdProtocol.CMD_WRITE -> {
                s.dataFor(s.nbdLength);
                payloadSlot = s; // submitted once its payload is in
            }
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
            default -> throw new AssertionError(type);
        }
    }

    /** The NBD error for a request the block layer need not see, or 0. */
    private int check(int type, int flags, long offset, long length) {
        int allowedFlags = NbdProtocol.CMD_FLAG_FUA;
        boolean writes = false;
        boolean payloadSized = false;
        switch (type) {
            case NbdProtocol.CMD_READ -> payloadSized = true;
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
                allowedFlags |= NbdProtocol.CMD_FLAG_NO_HOLE;
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

    private void submitWrite(NbdRequest s) {
        ByteBuffer d = s.data;
        d.limit(s.nbdLength).position(0);
        s.iov.clear().add(d);
        s.write(s.nbdOffset, s.iov, this);
        submit(s);
    }

    private void submit(NbdRequest s) {
        blockInFlight++;
        queue.submit(s);
    }

    /** Block-layer completion, in this connection's thread, usually inside a DeferCall region. */
    @Override
    public void complete(BlockRequest r) {
        NbdRequest s = (NbdRequest) r;
        blockInFlight--;
        if (state >= S_CLOSED) {
            releaseSlot(s);
            if (blockInFlight == 0) {
                finish();
            }
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

    private void reply(NbdRequest s, int error, boolean withData) {
        if (withData) {
            appendOutput(s.replyHeader(structured, error, true), null);
            s.data.limit(s.nbdLength).position(0);
            appendOutput(s.data, s);
        } else {
            appendOutput(s.replyHeader(structured, error, false), s);
        }
        DeferCall.defer(flusher);
    }

    private NbdRequest takeSlot() {
        NbdRequest s = freeSlots;
        freeSlots = s.nextFree;
        s.nextFree = null;
        slotsInUse++;
        return s;
    }

    private void releaseSlot(NbdRequest s) {
        s.trimData();
        s.nextFree = freeSlots;
        freeSlots = s;
        slotsInUse--;
        if (readPaused && state == S_TRANSMISSION) {
            resumeBh.schedule();
        }
    }

    // ---------------------------------------------------------------------------------------
    // Output

    private void appendOutput(ByteBuffer b, NbdRequest owner) {
        if (outTail == out.length) {
            int n = outTail - outHead;
            System.arraycopy(out, outHead, out, 0, n);
            System.arraycopy(outOwner, outHead, outOwner, 0, n);
            java.util.Arrays.fill(out, n, outTail, null);
            java.util.Arrays.fill(outOwner, n, outTail, null);
            outHead = 0;
            outTail = n;
        }
        out[outTail] = b;
        outOwner[outTail] = owner;
        outTail++;
    }

    /**
     * The deferred flush of a batch of replies, followed by one non-blocking read: a client with
     * requests in flight has often sent more while this batch ran, and taking them now saves the
     * loop a sleep in the selector and the client's send a wakeup. An empty read costs one cheap
     * syscall and sends the loop back to sleep. No busy polling: on a small machine the client
     * needs the CPU.
     */
    private void flushAndPeek() {
        flushOutput();
        if (state == S_TRANSMISSION && !readPaused && !peeking && payloadSlot == null && skipLeft == 0
                && !ctx.externalDisabled()) { // a drained section takes no new requests
            peeking = true; // a flush run inline by that read's region must not read again
            try {
                readInput();
            } finally {
                peeking = false;
            }
        }
    }

    /** Writes what is queued in one gathering write (more only if the kernel took it all and more is left). */
    private void flushOutput() {
        if (state >= S_CLOSED) {
            return;
        }
        try {
            while (outHead < outTail) {
                long n = channel.write(out, outHead, outTail - outHead);
                while (outHead < outTail && !out[outHead].hasRemaining()) {
                    NbdRequest owner = outOwner[outHead];
                    out[outHead] = null;
                    outOwner[outHead] = null;
                    outHead++;
                    if (owner != null) {
                        releaseSlot(owner);
                    }
                }
                if (n == 0) {
                    break; // socket buffer full
                }
            }
        } catch (IOException e) {
            // A client may hang up right after OPT_ABORT without reading the ACK (nbdinfo --list does).
            abort(clientAborted ? null : "write failed: " + e.getMessage());
            return;
        }
        if (outHead == outTail) {
            outHead = outTail = 0;
            if (writeArmed) {
                writeArmed = false;
                watch.setWriteHandler(null);
            }
            if (state == S_CLOSING) {
                maybeCloseGracefully();
            } else if (readPaused && state == S_OPTIONS) {
                resumeBh.schedule();
            }
        } else if (!writeArmed) {
            writeArmed = true;
            watch.setWriteHandler(onWritable);
        }
    }

    @Override
    public String toString() {
        return "NbdConnection[" + peer + " on " + ctx.name() + "]";
    }
}
