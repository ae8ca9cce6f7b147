package org.mqblock.core.loop;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.mqblock.core.ring.MpscLinkedQueue;

/**
 * A context's bottom halves (util/async.c's {@code bh_list} and {@code bh_slice_list}): the queue
 * producers schedule into, and the private list of slices the loop runs from.
 *
 * <p>Producers append to a wait-free MPSC queue. The thread holding the context moves what is
 * queued onto its slice list and runs one slice per {@link #poll}: the bottom halves queued when
 * the call starts. Those they schedule land behind the slice. A nested call (a handler waiting
 * with {@link AioWait}) takes over what is left of the outer slices; the counters tell the outer
 * call its slice is gone.
 *
 * <p>Closing seals the queue with a marker node, so that every schedule either lands before the
 * marker (and close sees it) or after it (and the scheduler is told the outcome): see {@link
 * AioContext#close()}.
 */
final class BottomHalves {

    private final AioContext ctx;
    private final MpscLinkedQueue<BottomHalf> queue = new MpscLinkedQueue<>();

    /** Named bottom halves not yet deleted; any thread adds and removes (concurrent set). */
    private final Set<BottomHalf> live = ConcurrentHashMap.newKeySet();

    // Plain fields touched only by the thread holding the context.
    private BottomHalf sliceHead;
    private BottomHalf sliceTail;
    private long appended;
    private long taken;

    BottomHalves(AioContext ctx) {
        this.ctx = ctx;
    }

    void addLive(BottomHalf bh) {
        live.add(bh);
    }

    void forget(BottomHalf bh) {
        live.remove(bh);
    }

    /** Appends a bottom half that was not pending. Context: any thread. Wait-free. */
    void offer(BottomHalf bh) {
        queue.offer(bh);
    }

    /** Whether anything is scheduled or still to run in a slice. Context: the holder. */
    boolean hasWork() {
        return sliceHead != null || !queue.isEmpty();
    }

    /** Moves what producers have queued onto the slice list (QSLIST_MOVE_ATOMIC's role). */
    private void takeQueued() {
        BottomHalf bh;
        while ((bh = queue.poll()) != null) {
            append(bh);
        }
    }

    private void append(BottomHalf bh) {
        if (sliceTail == null) {
            sliceHead = bh;
        } else {
            sliceTail.sliceNext = bh;
        }
        sliceTail = bh;
        appended++;
    }

    /**
     * Runs the bottom halves queued when it starts ({@code aio_bh_poll}); a callback that throws
     * is reported to the context, which rethrows it unless it has a failure listener. Returns
     * whether any ran. Context: the holder.
     */
    boolean poll() {
        takeQueued();
        long sliceEnd = appended;
        boolean progress = false;
        while (taken < sliceEnd) {
            BottomHalf bh = sliceHead;
            sliceHead = bh.sliceNext;
            if (sliceHead == null) {
                sliceTail = null;
            }
            bh.sliceNext = null;
            taken++;
            int old = bh.takeFlags();
            if ((old & (BottomHalf.SCHEDULED | BottomHalf.DELETED)) == BottomHalf.SCHEDULED) {
                progress = true;
                try {
                    bh.callback.run();
                } catch (Throwable t) {
                    ctx.handlerFailed(bh, t);
                }
            }
        }
        return progress;
    }

    /**
     * Seals the queue for close: appends a marker and moves everything ahead of it onto the slice
     * list, waiting out producers that have swung the tail but not linked their node yet (they
     * never wait for anything in that window). What is scheduled after the marker stays queued.
     * Returns the names of the bottom halves that are alive: created and not deleted, or
     * scheduled one-shots not yet run. Context: the holder, with the context in its closing state.
     */
    List<String> sealAndListLive() {
        BottomHalf marker = new BottomHalf(ctx, "close marker", () -> {}, BottomHalf.DELETED | BottomHalf.PENDING);
        queue.offer(marker);
        BottomHalf bh;
        while ((bh = queue.poll()) != marker) {
            if (bh == null) {
                Thread.onSpinWait(); // a producer between its exchange and its link
            } else {
                append(bh);
            }
        }
        List<String> names = new ArrayList<>();
        for (BottomHalf b : live) {
            names.add(b.name());
        }
        for (BottomHalf b = sliceHead; b != null; b = b.sliceNext) {
            int f = b.flags();
            if ((f & BottomHalf.ONESHOT) != 0 && (f & (BottomHalf.SCHEDULED | BottomHalf.DELETED)) == BottomHalf.SCHEDULED) {
                names.add(b.name() + " (scheduled, not run)");
            }
        }
        return names;
    }
}
