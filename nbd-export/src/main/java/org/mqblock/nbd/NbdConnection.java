package org.mqblock.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.BottomHalf;
import org.mqblock.core.loop.DeferCall;
import org.mqblock.core.loop.FdWatch;
import org.mqblock.core.loop.Timer;

/**
 * One client connection, served entirely in one IOThread's {@link AioContext}: its socket, its
 * input buffer and its life cycle. What the bytes mean belongs to the phase the connection is in,
 * as QEMU's nbd/server.c keeps negotiation apart from the transmission loop: {@link NbdHandshake}
 * (newstyle fixed option haggling, under a deadline and an option count), then {@link
 * NbdTransmission} (requests, the block layer, replies). What goes out waits in the {@link
 * NbdReplyQueue}.
 *
 * <h2>Reading, and when it stops</h2>
 * Each readiness event reads as much as the input buffer holds and lets the phase parse every
 * complete message in it. A phase that cannot take the next message now (no free slot, the
 * connection's or the server's buffer budget used up, a handshake reply still going out) pauses
 * reading; the socket is then not watched for input, so a client that never reads its replies
 * pins no more than its budget. The pause ends through {@link #scheduleResume} when a reply has
 * gone out or the pool has room. Replies completed in one batch leave in one gathering write,
 * after which the connection looks once for more requests without waiting for the selector
 * ({@link #flushAndPeek}); a short write arms the write handler.
 *
 * <h2>Closing</h2>
 * A client's DISC or ABORT: no more input, what is in flight completes and answers, then close.
 * Server shutdown: the same, but input is still read and every request parsed from then on is
 * answered ESHUTDOWN. A protocol violation or a vanished client: {@link #abort} closes the socket
 * at once; requests already in the block layer still run to completion before the queue is given
 * back.
 *
 * <p>Context: everything runs in the connection's context thread ({@link #start}, {@link
 * #shutdown} and {@link #abort} are scheduled there by the server), except {@link
 * #resumeFromAnyThread}. Not threadsafe otherwise.
 */
final class NbdConnection {

    /** Input buffer while negotiating: one option of the largest size buffered, and its header. */
    static final int HANDSHAKE_INPUT = NbdHandshake.MAX_OPTION_DATA + NbdProtocol.OPT_HEADER_LENGTH;
    static final int TRANSMISSION_INPUT = 256 << 10;
    /** Reads per readiness event before letting other connections of this IOThread run. */
    private static final int READS_PER_EVENT = 4;
    private static final long RESUME_RETRY_NS = 1_000_000;

    private static final int S_HANDSHAKE = 0;
    private static final int S_TRANSMISSION = 1;
    private static final int S_CLOSING = 2;     // no new work: finish what is in flight, then close
    private static final int S_CLOSED = 3;      // socket gone; waiting for the block layer to give slots back
    private static final int S_FINISHED = 4;

    private final NbdServer server;
    private final SocketChannel channel;
    private final AioContext ctx;
    private final int ctxIndex;
    private final String peer;

    // Everything below: the connection's context thread only, plain.
    /** Allocated in {@link #start}, grown on entering transmission; null before. */
    private ByteBuffer in;
    /** Start of unparsed input; {@code in.position()} is its end. */
    private int rd;
    private final NbdReplyQueue replies;
    private NbdHandshake handshake;
    private NbdTransmission transmission;

    private int state = S_HANDSHAKE;
    /** Closing because the server shuts down: input is still read, and answered ESHUTDOWN. */
    private boolean shuttingDown;
    /** The client sent ABORT: it may hang up without reading the ACK, which is no error. */
    private boolean clientAborted;
    private boolean writeArmed;
    private boolean readPaused;
    /** True while {@link #flushAndPeek} reads, so that nothing it runs reads again. */
    private boolean peeking;

    private FdWatch watch;
    private BottomHalf resumeBh;
    /** Retries {@link #resume} while a drained section silences this context's clients. */
    private Timer resumeTimer;
    private Timer handshakeTimer;
    private final Runnable onReadable = this::readInput;
    private final Runnable onWritable = this::flushOutput;
    /** Deferred once per batch of completions: the same instance each time, so DeferCall coalesces. */
    private final Runnable flusher = this::flushAndPeek;
    private final Runnable resumeTask = this::resume;

    /** Context: the accept thread; allocates no buffer (a connection flood costs only these objects). */
    NbdConnection(NbdServer server, SocketChannel channel, AioContext ctx, int ctxIndex, String peer) {
        this.server = server;
        this.channel = channel;
        this.ctx = ctx;
        this.ctxIndex = ctxIndex;
        this.peer = peer;
        this.replies = new NbdReplyQueue(2 * NbdTransmission.MAX_SLOTS + 4, slot -> transmission.replyDone(slot));
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

    NbdServer server() {
        return server;
    }

    // ---------------------------------------------------------------------------------------
    // Life cycle

    /** Watches the socket, arms the handshake deadline and sends the greeting. Context: the connection's thread. */
    void start() {
        assert ctx.inHomeThread();
        if (state != S_HANDSHAKE || handshake != null) {
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
        resumeBh = ctx.newBottomHalf("nbd-resume " + peer, resumeTask);
        resumeTimer = ctx.newTimer("nbd-resume " + peer, resumeTask);
        long timeoutMs = server.limits().handshakeTimeoutMs();
        handshakeTimer = ctx.newTimer("nbd-handshake " + peer,
                () -> abort("no transmission after " + timeoutMs + " ms of handshake"));
        handshakeTimer.armAfter(timeoutMs * 1_000_000);
        in = ByteBuffer.allocateDirect(HANDSHAKE_INPUT);
        handshake = new NbdHandshake(this, server);
        handshake.greet();
    }

    /**
     * Server shutdown: requests from now on are answered ESHUTDOWN, those in flight finish and
     * answer, then the connection closes. One still negotiating closes at once. Context: the
     * connection's thread.
     */
    void shutdown() {
        if (state == S_TRANSMISSION) {
            shuttingDown = true;
            state = S_CLOSING;
            parseInput(); // what is buffered already is answered now
            maybeCloseGracefully();
        } else if (state == S_HANDSHAKE) {
            abort(null);
        }
    }

    /** The client is done sending (DISC, ABORT): answer what is in flight, then close. */
    void closeAfterOutput() {
        state = S_CLOSING;
        shuttingDown = false; // nothing after a DISC is read, even during a shutdown
        if (transmission != null) {
            transmission.dropPartialRequest();
        }
        if (watch != null) {
            watch.setReadHandler(null); // a vanished client still shows as a failed write
        }
        maybeCloseGracefully();
    }

    void clientAborted() {
        clientAborted = true;
    }

    private void maybeCloseGracefully() {
        if (!closable()) {
            return;
        }
        if (shuttingDown) {
            // Requests the client sent may still wait in the socket: behind full slots (reading
            // paused) or unread since the last readiness event. They are answered ESHUTDOWN before
            // the close, so read once more; what that parses closes after its replies.
            if (readPaused) {
                return; // the resume that ends the pause reads them, and comes back here
            }
            if (!peeking) {
                peeking = true;
                int n;
                try {
                    n = readInput();
                } finally {
                    peeking = false;
                }
                if (n != 0 || !closable()) {
                    return;
                }
            }
        }
        abort(null);
    }

    private boolean closable() {
        return state == S_CLOSING && replies.isEmpty() && (transmission == null || transmission.idle());
    }

    /**
     * Closes the socket now (a protocol violation, the client vanishing, a deadline, or the end
     * of a graceful close). Requests in the block layer still complete; their replies are dropped,
     * and the queue is given back after the last one. Context: the connection's thread.
     */
    void abort(String reason) {
        if (state >= S_CLOSED) {
            return;
        }
        if (reason != null) {
            server.log("nbd: " + peer + ": closing: " + reason);
        }
        state = S_CLOSED;
        if (transmission != null) {
            transmission.dropPartialRequest();
        }
        replies.clear();
        closeSocket();
        maybeFinish();
    }

    /** Finishes a closed connection once nothing of it is in flight. */
    void maybeFinish() {
        if (state == S_CLOSED && (transmission == null || transmission.idle())) {
            finish();
        }
    }

    boolean isClosed() {
        return state >= S_CLOSED;
    }

    boolean shuttingDown() {
        return shuttingDown;
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
            handshakeTimer.cancel();
            resumeBh.delete();
        }
        if (transmission != null) {
            transmission.finish();
        }
        in = null;
        server.connectionClosed(this);
    }

    // ---------------------------------------------------------------------------------------
    // Phases

    /**
     * The handshake is done: the export is chosen and the client may send requests (they may
     * already be in the input buffer, behind the option that ended the handshake).
     */
    void enterTransmission(NbdExport export, boolean structured, boolean allocationContext) {
        handshakeTimer.cancel();
        handshake = null;
        transmission = new NbdTransmission(this, export, structured, allocationContext);
        state = S_TRANSMISSION;
    }

    /** Moves the unparsed input into the transmission buffer (the handshake's is small). */
    private void growInput() {
        ByteBuffer big = ByteBuffer.allocateDirect(TRANSMISSION_INPUT);
        int end = in.position();
        big.put(0, in, rd, end - rd).position(end - rd);
        in = big;
        rd = 0;
    }

    /** Queues one buffer of output; {@code slot} (or null) is given back once it is written. */
    void queueReply(ByteBuffer b, NbdRequest slot) {
        replies.add(b, slot);
    }

    /** Output is queued: it leaves at the end of the current DeferCall region (at once outside one). */
    void replyQueued() {
        DeferCall.defer(flusher);
    }

    boolean outputPending() {
        return !replies.isEmpty();
    }

    // ---------------------------------------------------------------------------------------
    // Input

    /** Whether input is read and parsed now. */
    boolean reading() {
        return state == S_HANDSHAKE || state == S_TRANSMISSION || (state == S_CLOSING && shuttingDown);
    }

    /** Reads and parses what the socket has; returns the bytes read (0: nothing there, -1: closed). */
    private int readInput() {
        int total = 0;
        DeferCall.begin(); // replies produced while parsing leave in one write
        try {
            for (int i = 0; i < READS_PER_EVENT && reading() && !readPaused; i++) {
                ByteBuffer direct = rd == in.position() && transmission != null ? transmission.directPayloadTarget() : null;
                int n;
                if (direct != null) {
                    n = channel.read(direct); // a large write payload straight into its buffer
                    if (n > 0) {
                        transmission.directPayloadReceived(n);
                    }
                } else {
                    compactInput();
                    n = channel.read(in);
                }
                if (n < 0) {
                    boolean between = rd == in.position() && (transmission == null || !transmission.midMessage());
                    abort(between ? null : "client went away in the middle of a message");
                    return -1;
                }
                if (n == 0) {
                    break;
                }
                total += n;
                if (direct == null) {
                    parseInput();
                    if (in.hasRemaining()) {
                        break; // the socket had less than a buffer full: it is drained
                    }
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

    /** Lets the current phase consume every complete message in the input buffer. */
    private void parseInput() {
        while (reading() && !readPaused) {
            int before = rd;
            if (state == S_HANDSHAKE) {
                rd = handshake.parse(in, rd, in.position());
                if (transmission != null) {
                    growInput(); // after rd moved past the option that ended the handshake
                    continue;    // rd restarts at 0 there: the requests behind it are next
                }
            } else {
                rd = transmission.parse(in, rd, in.position());
            }
            if (rd == before) {
                break;
            }
        }
        if (state == S_CLOSING) {
            maybeCloseGracefully();
        }
    }

    /** Stops watching for input until {@link #scheduleResume}. */
    void pauseReading() {
        if (!readPaused) {
            readPaused = true;
            watch.setReadHandler(null);
        }
    }

    boolean readPaused() {
        return readPaused;
    }

    /** A paused connection may go on (a slot came free, output drained). Context: the connection's thread. */
    void scheduleResume() {
        if (readPaused && state < S_CLOSED) {
            resumeBh.schedule();
        }
    }

    /** The same from another connection's thread (the buffer pool has room). */
    void resumeFromAnyThread() {
        try {
            ctx.schedule(resumeTask);
        } catch (RuntimeException e) {
            // the context is closing: the connection goes with it
        }
    }

    private void resume() {
        if (!reading() || !readPaused) {
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
            parseInput(); // requests already buffered get no new readiness event
        } finally {
            DeferCall.end();
        }
    }

    // ---------------------------------------------------------------------------------------
    // Output

    /**
     * The deferred flush of a batch of replies, followed by one non-blocking read: a client with
     * requests in flight has often sent more while this batch ran, and taking them now saves the
     * loop a sleep in the selector and the client's send a wakeup. An empty read costs one cheap
     * syscall and sends the loop back to sleep. No busy polling: on a small machine the client
     * needs the CPU.
     */
    private void flushAndPeek() {
        flushOutput();
        if (state == S_TRANSMISSION && !readPaused && !peeking && transmission.betweenMessages()
                && !ctx.externalDisabled()) { // a drained section takes no new requests
            peeking = true; // a flush run inline by that read's region must not read again
            try {
                readInput();
            } finally {
                peeking = false;
            }
        }
    }

    /** Writes what is queued now. */
    void flushOutput() {
        if (state >= S_CLOSED) {
            return;
        }
        boolean drained;
        try {
            drained = replies.flush(channel);
        } catch (IOException e) {
            // A client may hang up right after OPT_ABORT without reading the ACK (nbdinfo --list does).
            abort(clientAborted ? null : "write failed: " + e.getMessage());
            return;
        }
        if (drained) {
            if (writeArmed) {
                writeArmed = false;
                watch.setWriteHandler(null);
            }
            if (state == S_CLOSING) {
                maybeCloseGracefully();
            } else if (state == S_HANDSHAKE) {
                scheduleResume(); // the handshake waits for each reply to leave before the next option
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
