package org.mqblock.block;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import org.HdrHistogram.Histogram;
import org.mqblock.block.driver.DriverCapabilities;
import org.mqblock.block.driver.DriverQueue;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.AioWait;
import org.mqblock.core.loop.BottomHalf;
import org.mqblock.core.loop.DeferCall;
import org.mqblock.core.loop.EventNotifier;
import org.mqblock.core.loop.PollHandler;

/**
 * One queue of a {@link BlockDriverState}: the unit of parallelism. All of its state lives in
 * one {@link AioContext}; requests reach it either from code already running there ({@link
 * #submit}, e.g. a virtqueue handler) or from other threads through a {@link QueueSubmitter}'s
 * SPSC ring and an event notifier the loop can busy-poll.
 *
 * <p>The queue validates each request (range, length, support) and fails a bad one with an
 * error status without the driver ever seeing it, pads what is not aligned for the driver ({@link
 * PaddedRequest}), counts what is in flight (what a drained section waits for), holds what is
 * submitted during one, records per-operation counts and a latency histogram, and runs
 * completions.
 *
 * <p>Context: {@link #submit}, {@link #complete}, {@link #completeLater} in the queue's context
 * thread, holding it; {@link #stats()} from any thread; the rest is the block layer's, called from
 * the main loop in drained sections.
 */
public final class BlockQueue {

    /** Requests one pass takes from each submitter's ring before letting other work run. */
    private static final int RING_BUDGET = 64;

    private static final long MAX_LATENCY_NS = TimeUnit.SECONDS.toNanos(10);
    private static final VarHandle COUNTERS = MethodHandles.arrayElementVarHandle(long[].class);
    private static final int READS = 0;
    private static final int WRITES = 1;
    private static final int FLUSHES = 2;
    private static final int DISCARDS = 3;
    private static final int WRITE_ZEROES = 4;
    private static final int ERRORS = 5;
    private static final int BYTES_READ = 6;
    private static final int BYTES_WRITTEN = 7;

    private final BlockDriverState bs;
    private final int index;
    private final EventNotifier submissions;
    private final Consumer<BlockRequest> acceptFromRing = this::submit;

    /** Main loop writes in a drained section (holding the contexts); others read (volatile). */
    private volatile AioContext ctx;
    /** Main loop writes in a drained section (copy-on-write); the queue's thread reads (volatile). */
    private volatile QueueSubmitter[] submitters = new QueueSubmitter[0];

    // Written by the main loop holding the context (drained); read by the queue's thread under it.
    private DriverQueue driverQueue;
    private BottomHalf completionBh;
    private BottomHalf resumeBh;

    /** Queue's thread writes (volatile store); the main loop's drain reads it. */
    private volatile int inFlight;
    /**
     * Writes, write-zeroes and discards on the fast path, not yet completed. Queue's thread writes
     * (volatile store); a serialising request on any queue reads it (volatile, see {@link
     * OverlapTracker}).
     */
    private volatile int fastWrites;

    // Queue's thread only, plain.
    private BlockRequest laterHead;
    private BlockRequest laterTail;
    /**
     * Requests submitted during a drained section, in order, until it ends (linked by next). The
     * queue's thread; also the main loop in a drained section holding the context (move, close).
     */
    private BlockRequest parkedHead;
    private BlockRequest parkedTail;
    /** Free list of slow-path requests (linked by nextFree). */
    private PaddedRequest freePadded;
    private final Histogram latencyNs = new Histogram(MAX_LATENCY_NS, 3); // fixed range: recording never allocates
    /** Queue's thread writes with opaque stores; any thread reads with opaque loads. */
    private final long[] counters = new long[8];

    BlockQueue(BlockDriverState bs, int index, AioContext ctx) {
        this.bs = bs;
        this.index = index;
        this.submissions = new EventNotifier(bs.name() + "-q" + index + "-sq");
        attachTo(ctx);
    }

    // ---------------------------------------------------------------------------------------
    // Submission

    /**
     * Starts {@code request} on this queue. A request that is out of range, too long or not
     * supported completes (later, from a bottom half) with {@link BlockStatus#EIO}, {@link
     * BlockStatus#EINVAL} or {@link BlockStatus#ENOTSUP} and reaches no driver. Offsets and lengths
     * need no alignment: the queue pads what the driver cannot take ({@link PaddedRequest}). A
     * request submitted during a drained section, from anywhere (a completion callback, a bottom
     * half), waits in this queue until the section ends ({@code blk_wait_while_drained}).
     * Context: the queue's context thread.
     */
    public void submit(BlockRequest request) {
        request.queue = this;
        request.startNs = System.nanoTime();
        inFlight = inFlight + 1; // volatile store before the load of quiesced (pairs with drainedBegin)
        if (bs.quiesced()) {
            park(request);
            return;
        }
        int invalid = validate(request);
        if (invalid != BlockStatus.OK) {
            completeLater(request, invalid);
            return;
        }
        BlockOp op = request.op();
        if (op == BlockOp.FLUSH) {
            dispatchLocked(request);
            return;
        }
        int align = bs.capabilities().requestAlignment();
        if (((request.offset() | request.length()) & (align - 1)) != 0) {
            slowPath(request, true, align);
            return;
        }
        if (op != BlockOp.READ) {
            fastWrites = fastWrites + 1; // volatile store before the load of serialising (pairs with OverlapTracker.enter)
            if (bs.tracker().serialising() != 0) {
                fastWrites = fastWrites - 1;
                bs.tracker().fastWritesDrained();
                slowPath(request, false, align);
                return;
            }
            request.fastTracked = true;
        }
        dispatchLocked(request);
    }

    private void dispatchLocked(BlockRequest request) {
        AsyncMutex serializer = bs.serializer();
        if (serializer != null) {
            request.heldMutex = serializer; // released when the request completes
            if (!serializer.lockOrQueue(ctx, () -> dispatch(request))) {
                return; // the node is busy elsewhere: dispatched once the mutex is handed over
            }
        }
        dispatch(request);
    }

    private void slowPath(BlockRequest request, boolean padded, int align) {
        PaddedRequest p = freePadded;
        if (p == null) {
            p = new PaddedRequest(this);
        } else {
            freePadded = p.nextFree;
            p.nextFree = null;
        }
        p.start(request, padded, align);
    }

    void recycle(PaddedRequest p) {
        p.nextFree = freePadded;
        freePadded = p;
    }

    /**
     * Starts a child of a {@link PaddedRequest}: already validated and counted in flight through
     * its parent, so it goes straight to the driver (through the node's mutex where there is one;
     * {@code afterLock} dispatches it once the mutex is handed over). Context: the queue's thread.
     */
    void dispatchInternal(BlockRequest child, Runnable afterLock) {
        child.queue = this;
        AsyncMutex serializer = bs.serializer();
        if (serializer != null) {
            child.heldMutex = serializer;
            if (!serializer.lockOrQueue(ctx, afterLock)) {
                return;
            }
        }
        dispatch(child);
    }

    void dispatch(BlockRequest request) {
        DriverQueue dq = driverQueue;
        switch (request.op()) {
            case READ -> dq.readv(request);
            case WRITE -> dq.writev(request);
            case FLUSH -> dq.flush(request);
            case DISCARD -> dq.discard(request);
            case WRITE_ZEROES -> dq.writeZeroes(request);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Drained sections

    /** Holds {@code request} until the drained section ends; it is not in flight meanwhile. */
    private void park(BlockRequest request) {
        inFlight = inFlight - 1;
        request.next = null;
        if (parkedTail == null) {
            parkedHead = request;
        } else {
            parkedTail.next = request;
        }
        parkedTail = request;
        AioWait.kick(); // the drain may be waiting for this count to reach zero
    }

    /** Submits what waited through the drained section (this queue's resume bottom half). */
    private void resumeParked() {
        BlockRequest r = parkedHead;
        parkedHead = null;
        parkedTail = null;
        while (r != null) {
            BlockRequest next = r.next;
            r.next = null;
            submit(r); // parks it again if a new drained section has begun
            r = next;
        }
    }

    /** Schedules the submission of parked requests. Main loop, at the end of a drained section. */
    void resume() {
        resumeBh.schedule();
    }

    /**
     * Hands the parked requests to {@code target} (this queue is going away). Main loop, drained,
     * holding both contexts.
     */
    void moveParkedTo(BlockQueue target) {
        if (parkedHead == null) {
            return;
        }
        if (target.parkedTail == null) {
            target.parkedHead = parkedHead;
        } else {
            target.parkedTail.next = parkedHead;
        }
        target.parkedTail = parkedTail;
        parkedHead = null;
        parkedTail = null;
    }

    /**
     * Completes every parked request with {@link BlockStatus#ECANCELED} (the node is closing);
     * returns how many. Main loop, drained, holding the context.
     */
    int cancelParked() {
        int n = 0;
        BlockRequest r = parkedHead;
        parkedHead = null;
        parkedTail = null;
        while (r != null) {
            BlockRequest next = r.next;
            r.next = null;
            r.setStatus(BlockStatus.ECANCELED);
            add(ERRORS, 1);
            r.completion().complete(r);
            n++;
            r = next;
        }
        return n;
    }

    private int validate(BlockRequest r) {
        if (r.op() == BlockOp.FLUSH) {
            return BlockStatus.OK;
        }
        DriverCapabilities caps = bs.capabilities();
        long offset = r.offset();
        long length = r.length();
        if (offset < 0 || length < 0) {
            return BlockStatus.EINVAL;
        }
        if (offset + length > bs.length() || offset + length < 0) {
            return BlockStatus.EIO; // past the end of the device, like a bio beyond capacity
        }
        int align = caps.requestAlignment();
        switch (r.op()) {
            case READ, WRITE -> {
                long padded = ((offset + length + align - 1) & -align) - (offset & -align);
                if (padded > caps.maxTransfer()) {
                    return BlockStatus.EINVAL; // longer than the driver takes in one request, once padded
                }
            }
            case WRITE_ZEROES -> {
                if (!caps.writeZeroes()) {
                    return BlockStatus.ENOTSUP;
                }
            }
            case DISCARD -> { }
            default -> throw new AssertionError(r.op());
        }
        return BlockStatus.OK;
    }

    /** Takes what submitters queued in their rings (the submission notifier's handler). */
    private void takeFromRings() {
        boolean more = false;
        for (QueueSubmitter s : submitters) {
            s.submissions().drain(acceptFromRing, RING_BUDGET);
            more |= !s.submissions().isEmpty();
        }
        if (more) {
            submissions.set(); // come back in the next poll: other work runs in between
        }
    }

    private final PollHandler ringPoller = () -> {
        for (QueueSubmitter s : submitters) {
            if (!s.submissions().isEmpty()) {
                return true;
            }
        }
        return false;
    };

    /** Wakes the queue after a submitter filled its ring. Context: any thread. */
    void kick() {
        submissions.set();
    }

    // ---------------------------------------------------------------------------------------
    // Completion

    /**
     * Completes {@code request} now: statistics, then its completion callback. Drivers call this
     * from their completion handlers (thread-pool completions, timers). Context: the queue's
     * context thread.
     */
    public void complete(BlockRequest request, int status) {
        assert ctx.isHeldByCurrentThread() : this + " completed outside its context, in " + Thread.currentThread();
        request.setStatus(status);
        AsyncMutex held = request.heldMutex;
        request.heldMutex = null;
        if (request.internal) { // a PaddedRequest's child: its parent counts and completes
            try {
                request.completion().complete(request);
            } finally {
                if (held != null) {
                    held.unlock();
                }
            }
            return;
        }
        long latency = System.nanoTime() - request.startNs;
        latencyNs.recordValue(Math.max(0, Math.min(latency, MAX_LATENCY_NS)));
        count(request, status);
        if (request.fastTracked) { // before the callback, which may start an overlapping read-modify-write
            request.fastTracked = false;
            fastWrites = fastWrites - 1; // volatile store before the load of serialising (pairs with OverlapTracker.enter)
            if (bs.tracker().serialising() != 0) {
                bs.tracker().fastWritesDrained();
            }
        }
        try {
            request.completion().complete(request);
        } finally {
            inFlight = inFlight - 1; // after the callback: zero means every callback has returned
            if (held != null) {
                held.unlock();
            }
        }
    }

    /**
     * Completes {@code request} from this queue's completion bottom half: for work a driver did
     * inline in the submit call, so the caller's callback never runs inside its own submit. The
     * bottom half completes everything queued so far inside one {@link DeferCall} region. Context:
     * the queue's context thread.
     */
    public void completeLater(BlockRequest request, int status) {
        request.setStatus(status);
        request.next = null;
        if (laterTail == null) {
            laterHead = request;
        } else {
            laterTail.next = request;
        }
        laterTail = request;
        completionBh.schedule();
    }

    private void runLaterCompletions() {
        // Only this batch: a callback that resubmits to a driver completing inline queues its next
        // completion behind the others, for the next run, so the loop gets to its other sources.
        BlockRequest r = laterHead;
        laterHead = null;
        laterTail = null;
        DeferCall.begin();
        try {
            while (r != null) {
                BlockRequest done = r;
                r = r.next;
                done.next = null;
                complete(done, done.status());
            }
        } finally {
            if (r != null) { // a callback threw: the rest of the batch goes first next time
                BlockRequest last = r;
                while (last.next != null) {
                    last = last.next;
                }
                last.next = laterHead;
                if (laterHead == null) {
                    laterTail = last;
                }
                laterHead = r;
                completionBh.schedule();
            }
            DeferCall.end();
        }
    }

    private void count(BlockRequest r, int status) {
        if (status < 0) {
            add(ERRORS, 1);
            return;
        }
        switch (r.op()) {
            case READ -> {
                add(READS, 1);
                add(BYTES_READ, r.length());
            }
            case WRITE -> {
                add(WRITES, 1);
                add(BYTES_WRITTEN, r.length());
            }
            case FLUSH -> add(FLUSHES, 1);
            case DISCARD -> add(DISCARDS, 1);
            case WRITE_ZEROES -> add(WRITE_ZEROES, 1);
        }
    }

    private void add(int i, long n) {
        COUNTERS.setOpaque(counters, i, counters[i] + n);
    }

    // ---------------------------------------------------------------------------------------
    // Block-layer plumbing (main loop, drained)

    /** Binds the queue to {@code target}: driver state, completion bottom half, ring notifier. */
    private void attachTo(AioContext target) {
        target.acquire();
        try {
            driverQueue = bs.driver().attach(target);
            completionBh = target.newBottomHalf(bs.name() + "-q" + index + "-completions", this::runLaterCompletions);
            resumeBh = target.newBottomHalf(bs.name() + "-q" + index + "-resume", this::resumeParked);
            target.setEventNotifier(submissions, true, this::takeFromRings, ringPoller);
            ctx = target;
        } finally {
            target.release();
        }
    }

    private void detachFrom(AioContext from) {
        requireIdle("leave context '" + from.name() + "'");
        from.acquire();
        try {
            from.removeEventNotifier(submissions);
            completionBh.delete();
            resumeBh.delete();
            driverQueue.detach();
            driverQueue = null;
        } finally {
            from.release();
        }
    }

    /** Moves the queue to {@code target} ({@code bdrv_try_change_aio_context}). Drained, main loop. */
    void moveTo(AioContext target) {
        bs.assertDrained("move a queue");
        AioContext from = ctx;
        if (from == target) {
            return;
        }
        // Both held throughout: a handler in either context runs wholly before the move (and sees
        // the old context) or wholly after it (and sees the new one), never in between.
        from.acquire();
        target.acquire();
        try {
            detachFrom(from);
            attachTo(target);
        } finally {
            target.release();
            from.release();
        }
        if (!submitterRingsEmpty()) {
            kick(); // requests that waited in the rings through the drained section
        }
    }

    /** Re-attaches to a new driver node (after a snapshot replaced the root). Drained, main loop. */
    void reattachDriver() {
        bs.assertDrained("re-attach a driver");
        requireIdle("re-attach its driver");
        AioContext c = ctx;
        c.acquire();
        try {
            driverQueue.detach();
            driverQueue = bs.driver().attach(c);
        } finally {
            c.release();
        }
    }

    private void requireIdle(String what) {
        if (inFlight != 0) {
            throw new IllegalStateException(this + " cannot " + what + " with " + inFlight + " request(s) in flight");
        }
    }

    /** Unbinds the queue from its context for good. Drained, main loop. */
    void close() {
        detachFrom(ctx);
    }

    void addSubmitter(QueueSubmitter s) {
        QueueSubmitter[] old = submitters;
        QueueSubmitter[] now = Arrays.copyOf(old, old.length + 1);
        now[old.length] = s;
        submitters = now;
    }

    void removeSubmitter(QueueSubmitter s) {
        submitters = Arrays.stream(submitters).filter(x -> x != s).toArray(QueueSubmitter[]::new);
    }

    QueueSubmitter[] submittersSnapshot() {
        return submitters;
    }

    private boolean submitterRingsEmpty() {
        for (QueueSubmitter s : submitters) {
            if (!s.submissions().isEmpty()) {
                return false;
            }
        }
        return true;
    }

    // ---------------------------------------------------------------------------------------
    // Observation

    /** Requests accepted and not yet completed. Context: any thread. */
    public int inFlight() {
        return inFlight;
    }

    /** Fast-path writes not yet completed (see {@link OverlapTracker}). Context: any thread (volatile). */
    int fastWrites() {
        return fastWrites;
    }

    public AioContext context() {
        return ctx;
    }

    public int index() {
        return index;
    }

    public BlockDriverState node() {
        return bs;
    }

    /**
     * A snapshot of the queue's counters and latency histogram. Context: any thread; from another
     * thread it waits for the queue's context to take the histogram copy.
     */
    public QueueStats stats() {
        AioContext c = ctx;
        if (c.isHeldByCurrentThread()) {
            return snapshot();
        }
        CompletableFuture<QueueStats> f = new CompletableFuture<>();
        c.schedule(() -> f.complete(snapshot()));
        try {
            return f.get(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while reading stats of queue " + index, e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("queue " + index + " did not answer for its stats", e);
        }
    }

    private QueueStats snapshot() {
        long[] c = new long[counters.length];
        for (int i = 0; i < c.length; i++) {
            c[i] = (long) COUNTERS.getOpaque(counters, i);
        }
        return new QueueStats(index, ctx.name(), c[READS], c[WRITES], c[FLUSHES], c[DISCARDS], c[WRITE_ZEROES],
                c[ERRORS], c[BYTES_READ], c[BYTES_WRITTEN], latencyNs.copy());
    }

    /** Starts a fresh latency histogram (after a warm-up). Context: any thread. */
    public void resetLatency() {
        AioContext c = ctx;
        if (c.isHeldByCurrentThread()) {
            latencyNs.reset();
        } else {
            c.schedule(latencyNs::reset);
        }
    }

    @Override
    public String toString() {
        return "BlockQueue[" + bs.name() + "#" + index + " on " + ctx.name() + "]";
    }
}
