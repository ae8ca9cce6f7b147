package org.mqblock.block.driver;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.concurrent.atomic.AtomicLong;
import org.mqblock.block.AsyncMutex;
import org.mqblock.block.BlockRequest;
import org.mqblock.block.BlockStatus;
import org.mqblock.block.IoVector;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.ThreadPool;

/**
 * The runtime driver of a thin image (a small relative of qcow2; layout in {@link ThinFormat},
 * tables in {@link ThinTables}, creating, opening and checking in {@link ThinImage}): clusters are
 * allocated on first write; an unallocated cluster reads from the backing image (an external
 * snapshot's older image) or as zeros.
 *
 * <h2>Concurrency</h2>
 * Reads, and writes to clusters already allocated, run on every queue in parallel: they only read
 * the tables, which live in memory as atomic arrays. Whatever changes the tables (allocating on
 * first write, zeroing, discarding) is serialized per node by an {@link AsyncMutex}: a queue that
 * needs it leaves a continuation instead of blocking its IOThread, and holds it across the
 * worker's I/O until the completion runs. All file I/O runs on the queue's context's thread pool.
 *
 * <p>An allocating write writes the whole data cluster (merged with the backing data or zeros)
 * before it publishes the new entry to readers on other queues (a volatile store); the tables
 * reach the file at the next flush, after the data (see {@link ThinTables} for why that is
 * power-loss safe). A flush with table changes pending takes the mutex; one without is a plain
 * {@code fdatasync}, in parallel with the rest. A corrupt image (a write aimed at metadata) fails
 * every later write with EIO; a full file system fails the request with ENOSPC.
 */
public final class ThinDriver implements BlockDriver {

    private static final int FAILURES_PRINTED = 10;

    private final ThinTables tables;
    private final BlockDriver backing;
    private final boolean writable;
    private final Runnable onClose;
    private final AsyncMutex metadataLock = new AsyncMutex();
    /** Requests that failed; any queue's worker completion adds (atomic). */
    private final AtomicLong failures = new AtomicLong();
    private final DriverCapabilities caps = new DriverCapabilities(true, 512, 32 << 20, true, true);

    /**
     * @param onClose releases what the opener took with the image (its locks); runs once, last
     */
    ThinDriver(ThinTables tables, BlockDriver backing, boolean writable, Runnable onClose) {
        this.tables = tables;
        this.backing = backing;
        this.writable = writable;
        this.onClose = onClose;
    }

    ThinTables tables() {
        return tables;
    }

    @Override
    public String format() {
        return "thin";
    }

    @Override
    public long length() {
        return tables.header().size();
    }

    @Override
    public DriverCapabilities capabilities() {
        return caps;
    }

    @Override
    public String filename() {
        return tables.path.toString();
    }

    /** The backing image, or null. Context: any thread. */
    public BlockDriver backing() {
        return backing;
    }

    public int clusterSize() {
        return tables.clusterSize;
    }

    /** Whether the image was opened for writing. Context: any thread. */
    public boolean writable() {
        return writable;
    }

    /** Requests that failed so far. Context: any thread. */
    public long failureCount() {
        return failures.get();
    }

    /**
     * Resizes the image. A grown range reads zeros even where an earlier shrink cut off data, or
     * where the backing image has data (qcow2 via {@code bdrv_co_truncate}'s zero-fill): the
     * partial cluster at the old end gets zeros written, and whole clusters the backing image
     * covers become zero clusters. Context: the main loop, in a drained section.
     */
    @Override
    public void truncate(long newSize) throws IOException {
        requireWritable();
        ThinClusterIo io = new ThinClusterIo(tables, backing);
        long backingLength = backing == null ? 0 : backing.length();
        tables.resize(newSize, (from, to) -> {
            long until = Math.min(to, Math.max(tables.align(from), backingLength));
            if (until > from) {
                io.zeroRange(from, until - from, true);
            }
        });
    }

    @Override
    public void flushBlocking() throws IOException {
        if (writable) {
            tables.flush();
        }
    }

    @Override
    public void readBlocking(long offset, ByteBuffer dst) throws IOException {
        ByteBuffer b = dst.duplicate();
        int want = b.remaining();
        int inRange = (int) Math.max(0, Math.min(want, length() - offset));
        b.limit(b.position() + inRange);
        ThinClusterIo.read(tables, backing, offset, b); // on the overlay's worker: allocates nothing
        IoVector.zero(dst, dst.position() + inRange, want - inRange);
    }

    /**
     * Allocation status as {@link BlockDriver#blockStatus} defines it: a cluster this image holds
     * is data; a zero cluster reads zeros with nothing stored (HOLE|ZERO, as qcow2 reports it);
     * an unallocated cluster is what the backing chain says, and HOLE|ZERO only where no image
     * in the chain has data (no backing, or past its end). A run spans clusters of one kind in
     * this image; where the backing decides, its own run (clipped to ours). Context: any thread.
     */
    @Override
    public long blockStatus(long offset, long length) throws IOException {
        long size = length();
        if (offset >= size) {
            return BlockDriver.status(length, STATUS_HOLE | STATUS_ZERO);
        }
        long runEnd = Math.min(offset + length, size);
        int kind = kind(tables.entry(offset >>> tables.clusterBits));
        long pos = ((offset >>> tables.clusterBits) + 1) << tables.clusterBits;
        while (pos < runEnd) {
            long vc = pos >>> tables.clusterBits;
            long mapped = kind == UNALLOCATED ? tables.nextMapped(vc) : vc;
            if (mapped > vc) { // no L2 table here: unallocated up to the next one
                pos = mapped == Long.MAX_VALUE ? runEnd : Math.min(runEnd, mapped << tables.clusterBits);
            } else if (kind(tables.entry(vc)) == kind) {
                pos += tables.clusterSize;
            } else {
                break;
            }
        }
        long n = Math.min(pos, runEnd) - offset;
        if (kind == DATA) {
            return BlockDriver.status(n, 0);
        }
        if (kind == ZERO || backing == null || offset >= backing.length()) {
            return BlockDriver.status(n, STATUS_HOLE | STATUS_ZERO);
        }
        long below = backing.blockStatus(offset, Math.min(n, backing.length() - offset));
        return BlockDriver.status(Math.min(n, BlockDriver.statusLength(below)), BlockDriver.statusFlags(below));
    }

    private static final int DATA = 0;
    private static final int ZERO = 1;
    private static final int UNALLOCATED = 2;

    private static int kind(long e) {
        return ThinTables.zero(e) ? ZERO : e != 0 ? DATA : UNALLOCATED;
    }

    private void requireWritable() throws IOException {
        if (!writable) {
            throw new IOException(tables.path + " is open read-only");
        }
    }

    @Override
    public DriverQueue attach(AioContext ctx) {
        return new Queue(ctx);
    }

    @Override
    public void close() throws IOException {
        try {
            if (writable) {
                tables.flush();
            }
        } finally {
            try {
                tables.file.close();
            } finally {
                try {
                    if (backing != null) {
                        backing.close();
                    }
                } finally {
                    onClose.run();
                }
            }
        }
    }

    @Override
    public String toString() {
        return "ThinDriver[" + tables.path + ", " + tables.clusterSize + "-byte clusters"
                + (backing != null ? ", backing " + backing.filename() : "") + (writable ? "" : ", read-only") + "]";
    }

    /** Whether an I/O error is the file system being full (Java gives only the message). */
    static boolean noSpace(IOException e) {
        String m = e.getMessage();
        return m != null && m.contains("No space left on device");
    }

    // ---------------------------------------------------------------------------------------
    // Per queue

    private final class Queue implements DriverQueue {
        private final AioContext ctx;
        // The queue's context thread only.
        private final ArrayDeque<ThinIo> free = new ArrayDeque<>();

        Queue(AioContext ctx) {
            this.ctx = ctx;
        }

        private ThinIo io(BlockRequest r, boolean locked) {
            ThinIo io = free.pollFirst();
            if (io == null) {
                io = new ThinIo(this);
            }
            io.request = r;
            io.locked = locked;
            return io;
        }

        /** Starts {@code r} holding the metadata mutex (now, or once handed over). */
        private void withMetadataLock(BlockRequest r) {
            if (metadataLock.lockOrQueue(ctx, () -> ctx.threadPool().submit(io(r, true)))) {
                ctx.threadPool().submit(io(r, true));
            }
        }

        @Override
        public void readv(BlockRequest r) {
            ctx.threadPool().submit(io(r, false));
        }

        @Override
        public void writev(BlockRequest r) {
            if (!writable) {
                r.queue().completeLater(r, BlockStatus.EIO);
                return;
            }
            long first = r.offset() >>> tables.clusterBits;
            long last = (r.offset() + r.length() - 1) >>> tables.clusterBits;
            for (long vc = first; vc <= last; vc++) {
                if (!ThinTables.plainAllocated(tables.entry(vc))) {
                    withMetadataLock(r);
                    return;
                }
            }
            ctx.threadPool().submit(io(r, false)); // every cluster allocated: no metadata to touch
        }

        @Override
        public void flush(BlockRequest r) {
            if (tables.dirty()) {
                withMetadataLock(r); // tables to write back
            } else {
                ctx.threadPool().submit(io(r, false)); // nothing dirty: one fdatasync, in parallel with the rest
            }
        }

        @Override
        public void discard(BlockRequest r) {
            mutate(r);
        }

        @Override
        public void writeZeroes(BlockRequest r) {
            mutate(r);
        }

        private void mutate(BlockRequest r) {
            if (!writable) {
                r.queue().completeLater(r, BlockStatus.EIO);
                return;
            }
            withMetadataLock(r);
        }

        @Override
        public void detach() {
            free.clear();
        }
    }

    /** One request on a worker; reused through its queue's free list. */
    private final class ThinIo extends ThreadPool.Request {
        private final Queue owner;
        // Written by the context thread before submit, read by the worker (ordered by the pool).
        BlockRequest request;
        boolean locked;
        // Worker only.
        private final ThinClusterIo clusters = new ThinClusterIo(tables, backing);
        /** What run() caught: the worker writes, complete() reads (ordered by the pool). */
        private IOException error;

        ThinIo(Queue owner) {
            this.owner = owner;
        }

        @Override
        protected int run() {
            BlockRequest r = request;
            try {
                return switch (r.op()) {
                    case READ -> read(r);
                    case WRITE -> write(r);
                    case FLUSH -> {
                        if (locked) {
                            tables.flush();
                        } else {
                            tables.file.sync(); // clean when submitted: what completed before is on disk
                        }
                        yield BlockStatus.OK;
                    }
                    case WRITE_ZEROES -> clusters.zeroRange(r.offset(), r.length(), true);
                    case DISCARD -> clusters.zeroRange(r.offset(), r.length(), false);
                };
            } catch (IOException e) {
                error = e;
                return noSpace(e) ? BlockStatus.ENOSPC : BlockStatus.EIO;
            }
        }

        private int read(BlockRequest r) throws IOException {
            int len = (int) r.length();
            ByteBuffer b = clusters.data(len);
            clusters.read(r.offset(), b);
            r.iov().copyFrom(0, b, 0, len);
            return BlockStatus.OK;
        }

        private int write(BlockRequest r) throws IOException {
            int len = (int) r.length();
            ByteBuffer b = clusters.data(len);
            r.iov().copyTo(0, b, 0, len);
            return clusters.write(r.offset(), b, len, locked);
        }

        @Override
        protected void complete(int ret) {
            BlockRequest r = request;
            boolean held = locked;
            Throwable cause = error != null ? error : failure();
            request = null;
            error = null;
            owner.free.addFirst(this);
            if (held) {
                metadataLock.unlock();
            }
            if (ret == ThinClusterIo.NEEDS_METADATA) {
                owner.withMetadataLock(r); // raced with a zeroing: redo under the mutex
                return;
            }
            if (ret < 0 && failures.incrementAndGet() <= FAILURES_PRINTED) { // the guest sees only the status: say why
                System.err.println("thin " + tables.path + ": " + r.op() + " of " + r.length() + " bytes at "
                        + r.offset() + " failed (" + BlockStatus.name(ret) + "): " + cause);
            }
            r.queue().complete(r, ret < 0 ? ret : BlockStatus.OK);
        }
    }
}
