package org.mqblock.block;

import java.util.Objects;

/**
 * One block I/O request ({@code BlockAIOCB} and its arguments): an operation, a byte range, the
 * data for reads and writes, and whom to tell when it is done.
 *
 * <p>Requests are meant to be preallocated per slot and reused: set one up with {@link #read},
 * {@link #write}, {@link #flush}, {@link #discard} or {@link #writeZeroes}, submit it, and reuse it
 * after its completion ran. Ownership travels with the request: the submitter owns it until it
 * submits, the block layer (the queue's context thread) until it completes, then the submitter
 * again. Fields are plain: each hand-over is ordered by the ring or the thread switch that
 * carries it.
 */
public class BlockRequest {

    // Set by the submitter.
    private BlockOp op;
    private long offset;
    private long length;
    private IoVector iov;
    private BlockCompletion completion;
    /** The submitter's own use (a slot number, a client handle): carried, never read here. */
    public long tag;

    // Set by the block layer.
    private int status;
    long startNs;
    BlockQueue queue;
    /** Link in a list private to the context that owns the request now. */
    BlockRequest next;
    /** The node mutex this request holds from dispatch to completion (drivers that are not multiqueue-safe). */
    AsyncMutex heldMutex;
    /** A child of a {@link PaddedRequest}: counted and completed through its parent. */
    boolean internal;
    /** Counted in its queue's fast-path writes until it completes (see {@link OverlapTracker}). */
    boolean fastTracked;

    /** Scratch for the driver that holds the request: parts still outstanding. */
    public int driverPending;
    /** Scratch for the driver that holds the request: first error among its parts. */
    public int driverStatus;

    public BlockRequest() {}

    public BlockRequest read(long offset, IoVector iov, BlockCompletion completion) {
        return set(BlockOp.READ, offset, iov.size(), iov, completion);
    }

    public BlockRequest write(long offset, IoVector iov, BlockCompletion completion) {
        return set(BlockOp.WRITE, offset, iov.size(), iov, completion);
    }

    public BlockRequest flush(BlockCompletion completion) {
        return set(BlockOp.FLUSH, 0, 0, null, completion);
    }

    public BlockRequest discard(long offset, long length, BlockCompletion completion) {
        return set(BlockOp.DISCARD, offset, length, null, completion);
    }

    public BlockRequest writeZeroes(long offset, long length, BlockCompletion completion) {
        return set(BlockOp.WRITE_ZEROES, offset, length, null, completion);
    }

    private BlockRequest set(BlockOp op, long offset, long length, IoVector iov, BlockCompletion completion) {
        this.op = op;
        this.offset = offset;
        this.length = length;
        this.iov = iov;
        this.completion = Objects.requireNonNull(completion, "completion");
        this.status = BlockStatus.OK;
        this.driverPending = 0;
        this.driverStatus = BlockStatus.OK;
        return this;
    }

    public BlockOp op() {
        return op;
    }

    public long offset() {
        return offset;
    }

    /** Bytes covered: the vector's size for reads and writes, the range for discard and write-zeroes. */
    public long length() {
        return length;
    }

    /** The data of a read or write; null for the others. */
    public IoVector iov() {
        return iov;
    }

    /** The completion status ({@link BlockStatus}); valid once the completion runs. */
    public int status() {
        return status;
    }

    /** The queue this request was last submitted to. */
    public BlockQueue queue() {
        return queue;
    }

    BlockCompletion completion() {
        return completion;
    }

    void redirectCompletion(BlockCompletion completion) {
        this.completion = completion;
    }

    void setStatus(int status) {
        this.status = status;
    }

    @Override
    public String toString() {
        return "BlockRequest[" + op + " " + offset + "+" + length + ", " + BlockStatus.name(status) + "]";
    }
}
