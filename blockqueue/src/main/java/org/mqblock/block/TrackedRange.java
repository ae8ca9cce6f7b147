package org.mqblock.block;

import org.mqblock.core.loop.AioContext;

/**
 * A request that changes data, entered in its node's {@link OverlapTracker} ({@code
 * BdrvTrackedRequest}): its byte range, whether it is serialising (a read-modify-write, which no
 * overlapping write may interleave with), and how to resume it once nothing earlier stands in its
 * way.
 *
 * <p>The owning queue's thread sets {@link #start}, {@link #end}, {@link #serialising}, {@link
 * #ctx} and {@link #resume} before {@link OverlapTracker#enter}; every other field is read and
 * written only under the tracker's lock, which also orders those plain stores before any other
 * queue's thread reads them.
 */
class TrackedRange {
    long start;
    long end;
    boolean serialising;
    /** Where {@link #resume} runs once the tracker lets the request go. */
    AioContext ctx;
    Runnable resume;

    // Under the tracker's lock.
    TrackedRange prev;
    TrackedRange next;
    boolean waiting;

    final boolean overlaps(TrackedRange o) {
        return start < o.end && o.start < end;
    }
}
