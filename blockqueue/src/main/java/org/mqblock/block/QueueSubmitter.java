package org.mqblock.block;

import java.lang.invoke.VarHandle;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import org.mqblock.core.loop.DeferCall;
import org.mqblock.core.ring.SpscRing;

/**
 * A thread outside the queue's context submitting to it, io_uring style: requests go into a
 * submission ring (SPSC: this thread to the queue's), completions come back through a completion
 * ring (SPSC: the queue's thread to this one). Neither direction takes a lock or allocates.
 *
 * <p>At most {@link #depth()} requests are outstanding (submitted and not yet reaped); both rings
 * hold twice that, so neither can overflow even while the other side's drain still holds slots it
 * has consumed. The queue wakes a thread blocked in {@link #awaitCompletions}
 * once per batch of completions, deferred to the end of the batch.
 *
 * <p>A submitter stays attached across graph changes: a drained section may move it to another
 * queue (when the queue count changes), with its queued requests. Context: one submitting thread at
 * a time for {@link #submit}, {@link #offer}, {@link #kick}, {@link #reap}, {@link
 * #awaitCompletions}.
 */
public final class QueueSubmitter implements BlockCompletion {

    private final BlockDriverState bs;
    private final SpscRing<BlockRequest> submissions;
    private final SpscRing<BlockRequest> completions;
    private final int depth;
    private final Runnable wakeWaiter = this::wakeWaiter;

    /** Main loop writes in a drained section; the submitting thread reads (volatile). */
    private volatile BlockQueue queue;
    /** The submitting thread sets it while it may park; the queue's thread reads (volatile). */
    private volatile Thread waiter;
    /**
     * The node closed: the main loop sets it once (volatile store) after cancelling what waited in
     * the submission ring; from then on the submitting thread is both rings' only user and cancels
     * what it finds in the submission ring itself (it reads the flag with a volatile load).
     */
    private volatile boolean closed;

    // Submitting thread only.
    /** Submitted and not yet reaped. */
    private int outstanding;
    /** The consumer of the reap in progress; a request may be resubmitted from inside it. */
    private Consumer<BlockRequest> reaping;
    private final Consumer<BlockRequest> reapOne = r -> {
        outstanding--;
        reaping.accept(r);
    };

    QueueSubmitter(BlockDriverState bs, BlockQueue queue, int depth) {
        if (depth < 1) {
            throw new IllegalArgumentException("submitter depth must be >= 1, got " + depth);
        }
        this.bs = bs;
        this.queue = queue;
        this.depth = depth;
        // Twice the depth: a ring may keep slots its consumer has taken until its drain returns,
        // and a request reaped early in a drain can be resubmitted and complete before it ends.
        this.submissions = new SpscRing<>(2 * depth);
        this.completions = new SpscRing<>(2 * depth);
    }

    /**
     * Queues {@code request} and wakes the queue. Returns false, queuing nothing, when {@link
     * #depth()} requests are outstanding. The request's completion callback is replaced by this
     * submitter: reap it with {@link #reap} or {@link #awaitCompletions}.
     */
    public boolean submit(BlockRequest request) {
        if (!offer(request)) {
            return false;
        }
        kick();
        return true;
    }

    /** Queues {@code request} without waking the queue: batch several, then {@link #kick()}. */
    public boolean offer(BlockRequest request) {
        if (closed) {
            throw new IllegalStateException("node '" + bs.name() + "' is closed: its submitters take no more requests");
        }
        if (outstanding == depth) {
            return false;
        }
        request.redirectCompletion(this);
        if (!submissions.offer(request)) {
            throw new AssertionError("submission ring full with " + outstanding + " outstanding");
        }
        outstanding++;
        return true;
    }

    /** Wakes the queue for what {@link #offer} queued. Costs one volatile read if it is awake. */
    public void kick() {
        queue.kick();
    }

    /**
     * Hands completed requests to {@code consumer}, at most {@code max}; returns how many. The
     * consumer may submit again (each reaped request frees its slot first).
     */
    public int reap(Consumer<BlockRequest> consumer, int max) {
        if (closed) {
            cancelQueued(); // offered while the node closed: nobody else will take them
        }
        reaping = consumer;
        try {
            return completions.drain(reapOne, max);
        } finally {
            reaping = null;
        }
    }

    /** Like {@link #reap} but parks until at least one request has completed. */
    public int awaitCompletions(Consumer<BlockRequest> consumer, int max) {
        while (true) {
            int n = reap(consumer, max);
            if (n > 0 || outstanding == 0) {
                return n;
            }
            if (closed && completions.isEmpty() && submissions.isEmpty()) {
                throw new IllegalStateException("node '" + bs.name() + "' closed with " + outstanding
                        + " request(s) of this submitter unaccounted for");
            }
            waiter = Thread.currentThread();
            VarHandle.fullFence(); // publish waiter before looking at the ring and closed (pairs with wakeWaiter)
            if (completions.isEmpty() && !closed) {
                LockSupport.park(this);
            }
            waiter = null;
        }
    }

    /** Submitted and not yet reaped. Context: the submitting thread. */
    public int outstanding() {
        return outstanding;
    }

    public int depth() {
        return depth;
    }

    /** The queue this submitter feeds now. */
    public BlockQueue queue() {
        return queue;
    }

    /** Completion side, in the queue's context thread: hand the request back. */
    @Override
    public void complete(BlockRequest request) {
        if (!completions.offer(request)) {
            throw new AssertionError("completion ring full: more than depth " + depth + " outstanding");
        }
        DeferCall.defer(wakeWaiter); // one wakeup per batch of completions
    }

    private void wakeWaiter() {
        VarHandle.fullFence(); // the completions' release stores before the load of waiter
        Thread w = waiter;
        if (w != null) {
            LockSupport.unpark(w);
        }
    }

    SpscRing<BlockRequest> submissions() {
        return submissions;
    }

    /**
     * Completes every request waiting in the submission ring with {@link BlockStatus#ECANCELED}.
     * Context: the ring's consumer: the main loop closing the node, holding the queue's context,
     * or (after {@link #markClosed}) the submitting thread.
     */
    void cancelQueued() {
        BlockRequest r;
        while ((r = submissions.poll()) != null) {
            r.setStatus(BlockStatus.ECANCELED);
            complete(r);
        }
    }

    /** The node has closed; wakes a thread waiting for completions. Context: the main loop. */
    void markClosed() {
        closed = true;
        wakeWaiter();
    }

    void moveTo(BlockQueue target) {
        queue = target;
    }

    /** Detaches from the node; the submitter must have nothing outstanding. Context: main loop. */
    public void close() {
        bs.closeSubmitter(this);
    }
}
