package org.mqblock.block;

import java.nio.ByteBuffer;

/**
 * The slow path of one request ({@code bdrv_co_preadv/pwritev}'s padding and serialisation): a
 * request whose offset or length is not a multiple of the driver's request alignment, or a write
 * that arrives while a read-modify-write is active on the node. It runs as a short series of
 * aligned child requests on the same queue:
 * <ul>
 *   <li>a read: one aligned read of the padded range into a bounce buffer, then the requested
 *       bytes copied out;
 *   <li>a write: read the partial head and tail blocks into the bounce buffer, copy the data in
 *       between, write the padded range; serialising in the {@link OverlapTracker}, so no
 *       overlapping write on any queue interleaves with it;
 *   <li>write-zeroes: the partial head and tail blocks read, zeroed in part and written back
 *       (serialising), and the aligned middle zeroed by the driver;
 *   <li>discard: only the aligned middle is discarded (discard is advisory, as in QEMU);
 *   <li>an aligned write, write-zeroes or discard entered while a serialising request is active:
 *       the same request, after the tracker lets it go.
 * </ul>
 * The parent completes once, with the first error of its children. One object serves one parent
 * at a time and goes back to its queue's free list with its bounce buffer, so a steady stream of
 * small unaligned requests allocates nothing once the free list has grown, except a one-shot
 * bottom half when one has to wait for an overlapping request. A bounce buffer larger than {@link
 * #KEEP_BOUNCE} is dropped after its request, so a client's large unaligned requests cannot pin
 * queue depth times the maximum transfer in direct memory.
 *
 * <p>Context: the queue's context thread (every method, the children's completions included).
 */
final class PaddedRequest extends TrackedRange implements BlockCompletion {

    private static final int READ_ALL = 1;
    private static final int READ_HEAD = 2;
    private static final int READ_TAIL = 3;
    private static final int WRITE_ALL = 4;
    private static final int WRITE_HEAD = 5;
    private static final int WRITE_TAIL = 6;
    private static final int ZERO_MIDDLE = 7;
    private static final int PASS_THROUGH = 8;
    /** Bounce buffers up to this size stay with the object for the next request. */
    static final int KEEP_BOUNCE = 256 << 10;

    private final BlockQueue queue;
    private final BlockRequest child = new BlockRequest();
    private final IoVector childIov = new IoVector(1);
    /** Runs the child once the node's mutex is handed to it (drivers that are not multiqueue-safe). */
    private final Runnable dispatchChild;

    /** Link in its queue's free list (the queue's thread). */
    PaddedRequest nextFree;
    private BlockRequest parent;
    private boolean tracked;
    private long align;
    /** The aligned range around the parent: [padStart, padEnd). */
    private long padStart;
    private long padEnd;
    /** Start of the partial head / tail block to read-modify-write, or -1 for none. */
    private long headBlock;
    private long tailBlock;
    private int step;
    private ByteBuffer bounce;

    PaddedRequest(BlockQueue queue) {
        this.queue = queue;
        this.child.internal = true;
        this.dispatchChild = () -> queue.dispatch(child);
        this.resume = this::run;
    }

    /**
     * Starts {@code r}, which the queue has validated and counted in flight; {@code padded} says
     * whether it is misaligned for {@code alignment}.
     */
    void start(BlockRequest r, boolean padded, int alignment) {
        parent = r;
        align = alignment;
        long off = r.offset();
        long last = off + r.length();
        padStart = off & -align;
        padEnd = (last + align - 1) & -align;
        headBlock = -1;
        tailBlock = -1;
        if (padded && (r.op() == BlockOp.WRITE || r.op() == BlockOp.WRITE_ZEROES)) {
            headBlock = (off & (align - 1)) != 0 ? padStart : -1;
            tailBlock = (last & (align - 1)) != 0 ? padEnd - align : -1;
            if (tailBlock == headBlock) {
                tailBlock = -1; // one partial block holds both ends
            }
        }
        if (r.op() == BlockOp.READ) {
            tracked = false; // a read changes nothing: it serialises with nobody
            serialising = false;
            ensureBounce();
            step = READ_ALL;
            child.read(padStart, slice(0, (int) (padEnd - padStart)), this);
            submitChild();
            return;
        }
        tracked = true;
        ctx = queue.context();
        serialising = padded && r.op() != BlockOp.DISCARD;
        start = serialising ? padStart : off;
        end = serialising ? padEnd : last;
        if (padded && r.op() == BlockOp.DISCARD) {
            start = (off + align - 1) & -align; // only the aligned middle
            end = last & -align;
            if (start >= end) {
                tracked = false;
                finishLater(BlockStatus.OK); // nothing whole to discard
                return;
            }
        }
        if (queue.node().tracker().enter(this)) {
            run();
        }
    }

    /** The first step, once the tracker lets the request go. */
    private void run() {
        BlockRequest r = parent;
        if (serialising) {
            ensureBounce();
            readHead();
            return;
        }
        step = PASS_THROUGH;
        switch (r.op()) {
            case WRITE -> child.write(r.offset(), r.iov(), this);
            case WRITE_ZEROES -> child.writeZeroes(r.offset(), r.length(), this);
            case DISCARD -> child.discard(start, end - start, this);
            default -> throw new AssertionError(r.op());
        }
        submitChild();
    }

    @Override
    public void complete(BlockRequest c) {
        int status = c.status();
        if (status < 0) {
            finish(status);
            return;
        }
        switch (step) {
            case READ_ALL -> {
                BlockRequest r = parent;
                r.iov().copyFrom(0, bounce, (int) (r.offset() - padStart), (int) r.length());
                finish(BlockStatus.OK);
            }
            case READ_HEAD -> readTail();
            case READ_TAIL -> patchAndWrite();
            case WRITE_ALL, PASS_THROUGH, ZERO_MIDDLE -> finish(BlockStatus.OK);
            case WRITE_HEAD -> writeTailOrMiddle();
            case WRITE_TAIL -> zeroMiddleOrFinish();
            default -> throw new AssertionError("step " + step);
        }
    }

    private void readHead() {
        if (headBlock < 0) {
            readTail();
            return;
        }
        step = READ_HEAD;
        child.read(headBlock, slice(0, (int) align), this);
        submitChild();
    }

    private void readTail() {
        if (tailBlock < 0) {
            patchAndWrite();
            return;
        }
        step = READ_TAIL;
        child.read(tailBlock, slice(tailIndex(), (int) align), this);
        submitChild();
    }

    /** The edge blocks are in the bounce buffer: put the new bytes between them and write. */
    private void patchAndWrite() {
        BlockRequest r = parent;
        if (r.op() == BlockOp.WRITE) {
            r.iov().copyTo(0, bounce, (int) (r.offset() - padStart), (int) r.length());
            step = WRITE_ALL;
            child.write(padStart, slice(0, (int) (padEnd - padStart)), this);
            submitChild();
            return;
        }
        // Write-zeroes: zero the requested part of each edge block, write them, zero the middle.
        long off = r.offset();
        long last = off + r.length();
        if (headBlock >= 0) {
            IoVector.zero(bounce, (int) (off - headBlock), (int) (Math.min(last, headBlock + align) - off));
        }
        if (tailBlock >= 0) {
            long from = Math.max(off, tailBlock);
            IoVector.zero(bounce, tailIndex() + (int) (from - tailBlock), (int) (last - from));
        }
        if (headBlock >= 0) {
            step = WRITE_HEAD;
            child.write(headBlock, slice(0, (int) align), this);
            submitChild();
        } else {
            writeTailOrMiddle();
        }
    }

    private void writeTailOrMiddle() {
        if (tailBlock >= 0) {
            step = WRITE_TAIL;
            child.write(tailBlock, slice(tailIndex(), (int) align), this);
            submitChild();
        } else {
            zeroMiddleOrFinish();
        }
    }

    private void zeroMiddleOrFinish() {
        BlockRequest r = parent;
        long mStart = (r.offset() + align - 1) & -align;
        long mEnd = (r.offset() + r.length()) & -align;
        if (mStart >= mEnd) {
            finish(BlockStatus.OK);
            return;
        }
        step = ZERO_MIDDLE;
        child.writeZeroes(mStart, mEnd - mStart, this);
        submitChild();
    }

    /** Where the tail block sits in the bounce buffer: in place for a write, after the head block for write-zeroes. */
    private int tailIndex() {
        return parent.op() == BlockOp.WRITE ? (int) (tailBlock - padStart) : (int) align;
    }

    private void ensureBounce() {
        int need = parent.op() == BlockOp.WRITE_ZEROES ? (int) (2 * align) : (int) (padEnd - padStart);
        if (bounce == null || bounce.capacity() < need || bounce.alignmentOffset(0, (int) align) != 0) {
            // Aligned memory: an O_DIRECT driver can use it without a bounce of its own.
            bounce = ByteBuffer.allocateDirect(Math.max(need, 4096) + (int) align).alignedSlice((int) align);
        }
        bounce.clear();
    }

    /** The child's vector: {@code [index, index + length)} of the bounce buffer, as an owned segment. */
    private IoVector slice(int index, int length) {
        bounce.limit(index + length).position(index);
        childIov.clear().add(bounce);
        bounce.clear();
        return childIov;
    }

    private void submitChild() {
        queue.dispatchInternal(child, dispatchChild);
    }

    private void finish(int status) {
        if (tracked) {
            queue.node().tracker().exit(this);
        }
        BlockRequest r = parent;
        release();
        queue.complete(r, status);
    }

    /** Back to the free list, before the parent's callback, which may start another slow request. */
    private void release() {
        parent = null;
        if (bounce != null && bounce.capacity() > KEEP_BOUNCE) {
            bounce = null;
        }
        queue.recycle(this);
    }

    private void finishLater(int status) {
        BlockRequest r = parent;
        release();
        queue.completeLater(r, status);
    }
}
