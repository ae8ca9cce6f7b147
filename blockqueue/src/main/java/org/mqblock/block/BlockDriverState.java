package org.mqblock.block;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.block.driver.DriverCapabilities;
import org.mqblock.block.driver.ThinImage;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.AioWait;

/**
 * A block device as the block layer sees it: a driver node (with, after a snapshot, its backing
 * chain) served by several {@link BlockQueue}s, each in its own context ({@code BlockDriverState}
 * split per queue, as QEMU's multiqueue block layer does).
 *
 * <p>Node-wide state (the driver, the size, the queue set) changes only in a drained section: no
 * new external requests on any queue, none in flight. The graph operations here drain, take the
 * contexts they touch, change the node, and resume: {@link #resize}, {@link #snapshot}, {@link
 * #setQueueCount}, {@link #moveQueue}. Nothing in flight is lost or completed twice, and requests
 * that wait in submitters' rings meanwhile run after it. A change that stops writes to a driver
 * (a snapshot, close) flushes it first, so no acknowledged write depends on a flush that will
 * never reach it.
 *
 * <p>Context: the main loop (any thread that is not the home thread of one of the node's queues)
 * for everything but {@link #length()}, {@link #capabilities()}, {@link #queue(int)}, {@link
 * #queueCount()}, which any thread may call. Graph operations from several threads are serialized.
 */
public final class BlockDriverState implements AutoCloseable {

    private final String name;
    /** Graph operations and submitter registration hold this (main loop, submitter threads). */
    private final Object graphLock = new Object();

    /** Main loop writes in a drained section; any thread reads (volatile). */
    private volatile BlockDriver driver;
    /** Follows the driver: non-null when the driver is not multiqueue-safe (volatile). */
    private volatile AsyncMutex serializer;
    /** Main loop writes (copy-on-write, drained); any thread reads (volatile). */
    private volatile BlockQueue[] queues;
    /**
     * Whether a drained section is active: main loop writes under graphLock (volatile store before
     * reading the queues' in-flight counts); each queue's submit reads it after counting the
     * request in flight (volatile load), so a request either is seen by the drain or waits.
     */
    private volatile boolean quiesced;
    /** Serialises read-modify-writes against overlapping writes on every queue. */
    private final OverlapTracker tracker = new OverlapTracker(this);

    // Main loop, under graphLock.
    private int drainDepth;
    private final List<QueueSubmitter> submitters = new ArrayList<>();
    /** The context each queue's drain silenced, to re-enable exactly that one. */
    private AioContext[] silenced = new AioContext[0];

    private BlockDriverState(String name, BlockDriver driver) {
        this.name = name;
        setDriver(driver);
    }

    /**
     * Creates a node over an opened driver with one queue per entry of {@code contexts} (an entry
     * may repeat: several queues on one IOThread). Context: the main loop.
     */
    public static BlockDriverState create(String name, BlockDriver driver, List<AioContext> contexts) {
        if (contexts.isEmpty()) {
            throw new IllegalArgumentException("a node needs at least one queue");
        }
        BlockDriverState bs = new BlockDriverState(Objects.requireNonNull(name, "name"), driver);
        BlockQueue[] qs = new BlockQueue[contexts.size()];
        for (int i = 0; i < qs.length; i++) {
            qs[i] = new BlockQueue(bs, i, contexts.get(i));
        }
        bs.queues = qs;
        return bs;
    }

    private void setDriver(BlockDriver d) {
        this.serializer = d.capabilities().multiqueueSafe() ? null : new AsyncMutex();
        this.driver = d;
    }

    // ---------------------------------------------------------------------------------------
    // Read side

    public String name() {
        return name;
    }

    /** The root driver node. */
    public BlockDriver driver() {
        return driver;
    }

    public long length() {
        return driver.length();
    }

    public DriverCapabilities capabilities() {
        return driver.capabilities();
    }

    /**
     * The alignment of offsets and lengths this node accepts from front-ends (what NBD advertises
     * as its minimum block size): 1, since the queues pad what the driver cannot take (reads
     * through a bounce buffer, writes as serialised read-modify-writes of the edge blocks). The
     * driver's own alignment, {@code capabilities().requestAlignment()}, is what a front-end should
     * prefer for speed.
     */
    public int requestAlignment() {
        return 1;
    }

    AsyncMutex serializer() {
        return serializer;
    }

    OverlapTracker tracker() {
        return tracker;
    }

    /** Whether a drained section is active (volatile). Context: any thread. */
    boolean quiesced() {
        return quiesced;
    }

    /** Fast-path writes in flight over all queues (see {@link OverlapTracker}). Context: any thread. */
    int fastWritesInFlight() {
        int n = 0;
        for (BlockQueue q : queues) {
            n += q.fastWrites();
        }
        return n;
    }

    public int queueCount() {
        return queues.length;
    }

    public BlockQueue queue(int i) {
        return queues[i];
    }

    /** Requests in flight over all queues. Context: any thread. */
    public int inFlight() {
        int n = 0;
        for (BlockQueue q : queues) {
            n += q.inFlight();
        }
        return n;
    }

    // ---------------------------------------------------------------------------------------
    // Submitters

    /**
     * A submitter for a thread outside the queues' contexts, feeding queue {@code queueIndex}
     * with at most {@code depth} outstanding requests. Context: any thread.
     */
    public QueueSubmitter newSubmitter(int queueIndex, int depth) {
        synchronized (graphLock) {
            BlockQueue q = queues[queueIndex];
            QueueSubmitter s = new QueueSubmitter(this, q, depth);
            submitters.add(s);
            q.addSubmitter(s);
            return s;
        }
    }

    void closeSubmitter(QueueSubmitter s) {
        synchronized (graphLock) {
            if (submitters.remove(s)) {
                s.queue().removeSubmitter(s);
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Drained sections

    /**
     * Stops external requests on every queue and waits until none is in flight
     * ({@code bdrv_drained_begin}). Sections nest. Context: the main loop.
     */
    public void drainedBegin() {
        synchronized (graphLock) {
            assertMainLoop("drain");
            if (drainDepth++ == 0) {
                quiesced = true; // before the in-flight counts are read: pairs with BlockQueue.submit
                BlockQueue[] qs = queues;
                silenced = new AioContext[qs.length];
                for (int i = 0; i < qs.length; i++) {
                    silenced[i] = qs[i].context();
                    silenced[i].disableExternal();
                }
                // A handler that was already running when its sources went quiet may still be
                // taking requests: wait for each loop to finish its current step.
                for (AioContext c : silenced) {
                    c.acquire();
                    c.release();
                }
            }
            for (BlockQueue q : queues) {
                AioWait.waitWhile(q.context(), () -> q.inFlight() > 0);
            }
        }
    }

    /** Ends a drained section ({@code bdrv_drained_end}); the outermost one resumes the queues. */
    public void drainedEnd() {
        synchronized (graphLock) {
            if (drainDepth <= 0) {
                throw new IllegalStateException("drainedEnd without drainedBegin on node '" + name + "'");
            }
            if (--drainDepth == 0) {
                quiesced = false;
                for (AioContext c : silenced) {
                    c.enableExternal();
                }
                silenced = new AioContext[0];
                for (BlockQueue q : queues) {
                    q.resume(); // what was submitted during the section, from inside the loops
                }
            }
        }
    }

    public boolean isDrained() {
        synchronized (graphLock) {
            return drainDepth > 0;
        }
    }

    void assertDrained(String what) {
        if (drainDepth == 0) {
            throw new IllegalStateException("node '" + name + "': " + what + " needs a drained section");
        }
    }

    private void assertMainLoop(String what) {
        for (BlockQueue q : queues) {
            if (q.context().inHomeThread()) {
                throw new IllegalStateException("node '" + name + "': " + what + " from IOThread '"
                        + q.context().name() + "', which serves queue " + q.index() + "; call it from the main loop");
            }
        }
    }

    private interface GraphChange {
        void apply() throws IOException;
    }

    /** Drains, holds every context of the node, applies {@code change}, resumes. */
    private void drainedChange(String what, GraphChange change) {
        synchronized (graphLock) {
            drainedBegin();
            try {
                if (inFlight() != 0) {
                    throw new IllegalStateException("node '" + name + "': " + inFlight() + " request(s) in flight after draining");
                }
                List<AioContext> held = distinctContexts();
                held.forEach(AioContext::acquire);
                try {
                    change.apply();
                } catch (IOException e) {
                    throw new UncheckedIOException("node '" + name + "': " + what + " failed", e);
                } finally {
                    for (int i = held.size() - 1; i >= 0; i--) {
                        held.get(i).release();
                    }
                }
            } finally {
                drainedEnd();
            }
        }
    }

    private List<AioContext> distinctContexts() {
        List<AioContext> cs = new ArrayList<>();
        for (BlockQueue q : queues) {
            if (!cs.contains(q.context())) {
                cs.add(q.context());
            }
        }
        return cs;
    }

    // ---------------------------------------------------------------------------------------
    // Graph operations

    /** Changes the device size (grow or shrink) in a drained section. Context: the main loop. */
    public void resize(long newLength) {
        if (newLength < 0) {
            throw new IllegalArgumentException("size must be >= 0, got " + newLength);
        }
        drainedChange("resize to " + newLength, () -> driver.truncate(newLength));
    }

    /**
     * Takes an external snapshot: creates a thin image at {@code overlay} backed by the current
     * image, and makes it the node's driver; the old image becomes its read-only backing. Only
     * file-backed images can be a snapshot's backing. Context: the main loop.
     */
    public void snapshot(Path overlay, int clusterSize) {
        drainedChange("snapshot to " + overlay, () -> {
            BlockDriver old = driver;
            if (old.filename() == null) {
                throw new IllegalArgumentException("node '" + name + "': driver '" + old.format()
                        + "' has no image file to serve as a snapshot's backing");
            }
            old.flushBlocking(); // writes acknowledged so far must not depend on a later flush of the overlay
            ThinImage.createOverlay(overlay, old, clusterSize);
            BlockDriver top = ThinImage.openOver(overlay, old);
            setDriver(top);
            for (BlockQueue q : queues) {
                q.reattachDriver();
            }
        });
    }

    /**
     * Grows or shrinks the set of queues: new queues are served by {@code contexts} (round-robin);
     * submitters of removed queues move, with what waits in their rings, to the remaining ones.
     * Context: the main loop.
     */
    public void setQueueCount(int count, List<AioContext> contexts) {
        if (count < 1) {
            throw new IllegalArgumentException("queue count must be >= 1, got " + count);
        }
        synchronized (graphLock) {
            drainedChange("set queue count to " + count, () -> {
                BlockQueue[] old = queues;
                BlockQueue[] now = Arrays.copyOf(old, count);
                for (int i = old.length; i < count; i++) {
                    AioContext c = contexts.get((i - old.length) % contexts.size());
                    now[i] = new BlockQueue(this, i, c);
                    c.disableExternal(); // joins the drained section
                    silenced = Arrays.copyOf(silenced, i + 1);
                    silenced[i] = c;
                }
                for (int i = count; i < old.length; i++) {
                    BlockQueue gone = old[i];
                    for (QueueSubmitter s : gone.submittersSnapshot()) {
                        BlockQueue target = now[i % count];
                        gone.removeSubmitter(s);
                        target.addSubmitter(s);
                        s.moveTo(target);
                    }
                    gone.moveParkedTo(now[i % count]);
                    gone.close();
                    silenced[i].enableExternal();
                }
                silenced = Arrays.copyOf(silenced, count);
                queues = now;
            });
            // Requests that waited in moved rings: wake their new queues.
            for (BlockQueue q : queues) {
                q.kick();
            }
        }
    }

    /** Moves queue {@code index} to {@code target} (an IOThread's context). Context: the main loop. */
    public void moveQueue(int index, AioContext target) {
        synchronized (graphLock) {
            drainedBegin();
            try {
                BlockQueue q = queues[index];
                AioContext from = q.context();
                if (from != target) {
                    target.disableExternal(); // the queue stays silenced on its new context
                    q.moveTo(target);
                    silenced[index] = target;
                    from.enableExternal();
                }
            } finally {
                drainedEnd();
            }
        }
    }

    /**
     * Detaches every queue and closes the driver chain. Nothing in flight is lost: the drain lets
     * started requests complete, and every request accepted but not started (in a submitter's ring,
     * or submitted during the drain) completes with {@link BlockStatus#ECANCELED}, so no thread
     * waits for it. Submitters refuse new requests afterwards. Context: the main loop.
     */
    @Override
    public void close() {
        synchronized (graphLock) {
            drainedBegin();
            try {
                for (BlockQueue q : queues) {
                    AioContext c = q.context();
                    c.acquire();
                    try {
                        q.cancelParked();
                        for (QueueSubmitter s : q.submittersSnapshot()) {
                            s.cancelQueued();
                        }
                    } finally {
                        c.release();
                    }
                }
                for (QueueSubmitter s : new ArrayList<>(submitters)) {
                    closeSubmitter(s);
                    s.markClosed();
                }
                for (BlockQueue q : queues) {
                    q.close();
                }
                queues = new BlockQueue[0];
                try {
                    driver.flushBlocking();
                } finally {
                    driver.close(); // a failed flush is reported, and the files are closed all the same
                }
            } catch (IOException e) {
                throw new UncheckedIOException("closing node '" + name + "'", e);
            } finally {
                drainedEnd();
            }
        }
    }

    @Override
    public String toString() {
        return "BlockDriverState[" + name + ", " + driver.format() + ", " + queues.length + " queues]";
    }
}
