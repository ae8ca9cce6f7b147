package org.mqblock.nbd;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.mqblock.block.BlockDriverState;
import org.mqblock.block.BlockQueue;
import org.mqblock.block.driver.DriverCapabilities;
import org.mqblock.core.loop.AioContext;

/**
 * One named export: a {@link BlockDriverState} offered to NBD clients, read-only or not, and the
 * hand-out of its queues to connections.
 *
 * <h2>How a connection gets its own BlockQueue</h2>
 * The node is opened with a fixed set of queues spread over the server's IOThreads (queue
 * {@code i} on context {@code i mod n}, as {@code BlockBackend.open} does), several per IOThread.
 * The server picks a connection's IOThread when it accepts it; once the client names this export,
 * the connection takes the queue <em>on that IOThread</em> that fewest connections use. So the
 * first {@code queues} connections each get a queue of their own, and later ones share a queue
 * with a connection of the same IOThread, which keeps the rule that a queue is only touched from
 * its one context. Growing the queue set per connection ({@code setQueueCount}) would drain the
 * whole device on every connect for no gain in correctness, so it is not done.
 *
 * <h2>Multi-conn</h2>
 * {@code CAN_MULTI_CONN} promises that a flush on any connection makes durable every write
 * acknowledged on any connection before it. The block layer's flush reaches the driver node as a
 * whole ({@code fdatasync} of the image, a no-op for RAM), not one queue, so that holds for every
 * driver here; an export may still opt out.
 *
 * <p>Context: any thread; the queue hand-out is synchronized (connection setup only).
 */
public final class NbdExport {

    private final String name;
    private final BlockDriverState node;
    private final boolean readOnly;
    private final boolean multiConn;
    private final String description;

    /** Connections using each queue; guarded by {@code this} (IOThreads at connect and close). */
    private final int[] users;

    public NbdExport(String name, BlockDriverState node, boolean readOnly, boolean multiConn, String description) {
        this.name = Objects.requireNonNull(name, "name");
        if (name.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > NbdProtocol.MAX_STRING) {
            throw new IllegalArgumentException("export name longer than " + NbdProtocol.MAX_STRING + " bytes");
        }
        this.node = Objects.requireNonNull(node, "node");
        this.readOnly = readOnly;
        this.multiConn = multiConn;
        this.description = description == null ? "" : description;
        this.users = new int[node.queueCount()];
    }

    public NbdExport(String name, BlockDriverState node, boolean readOnly) {
        this(name, node, readOnly, true, "");
    }

    public String name() {
        return name;
    }

    public BlockDriverState node() {
        return node;
    }

    public boolean readOnly() {
        return readOnly;
    }

    public String description() {
        return description;
    }

    /** The export size in bytes, as the handshake reports it. */
    public long size() {
        return node.length();
    }

    /** The transmission flags sent with the size. */
    public int transmissionFlags() {
        int f = NbdProtocol.TFLAG_HAS_FLAGS | NbdProtocol.TFLAG_SEND_FLUSH | NbdProtocol.TFLAG_SEND_CACHE;
        if (readOnly) {
            f |= NbdProtocol.TFLAG_READ_ONLY;
        } else {
            f |= NbdProtocol.TFLAG_SEND_FUA | NbdProtocol.TFLAG_SEND_TRIM;
            if (node.capabilities().writeZeroes()) {
                f |= NbdProtocol.TFLAG_SEND_WRITE_ZEROES | NbdProtocol.TFLAG_SEND_FAST_ZERO;
            }
        }
        if (multiConn) {
            f |= NbdProtocol.TFLAG_CAN_MULTI_CONN;
        }
        return f;
    }

    /** The NBD minimum block size: the alignment the node accepts from front-ends (1 where it pads). */
    public int minBlockSize() {
        return node.requestAlignment();
    }

    /** Preferred request size: 4 KiB, or the alignment when that is larger. */
    public int preferredBlockSize() {
        return Math.max(4096, minBlockSize());
    }

    /** Largest read or write a client may send: the driver's limit, at most {@link NbdLimits#MAX_REQUEST}. */
    public int maxBlockSize() {
        DriverCapabilities caps = node.capabilities();
        return Math.min(caps.maxTransfer(), NbdLimits.MAX_REQUEST);
    }

    /** Whether some queue of this export lives in {@code ctx}. */
    boolean servedBy(AioContext ctx) {
        for (int i = 0; i < node.queueCount(); i++) {
            if (node.queue(i).context() == ctx) {
                return true;
            }
        }
        return false;
    }

    /**
     * The queue in {@code ctx} that fewest connections use; the caller gives it back with {@link
     * #releaseQueue}. Context: {@code ctx}'s thread.
     */
    synchronized BlockQueue acquireQueue(AioContext ctx) {
        int best = -1;
        for (int i = 0; i < users.length; i++) {
            if (node.queue(i).context() == ctx && (best < 0 || users[i] < users[best])) {
                best = i;
            }
        }
        if (best < 0) {
            throw new IllegalStateException("export '" + name + "' has no queue on " + ctx.name());
        }
        users[best]++;
        return node.queue(best);
    }

    synchronized void releaseQueue(BlockQueue q) {
        users[q.index()]--;
    }

    /** Connections per queue, for tests and status output. */
    public synchronized List<Integer> queueUsers() {
        List<Integer> l = new ArrayList<>(users.length);
        for (int u : users) {
            l.add(u);
        }
        return l;
    }

    @Override
    public String toString() {
        return "NbdExport[" + name + (readOnly ? ", read-only" : "") + ", " + node + "]";
    }
}
