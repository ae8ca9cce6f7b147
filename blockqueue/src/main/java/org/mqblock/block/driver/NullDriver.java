package org.mqblock.block.driver;

import java.nio.ByteBuffer;
import org.mqblock.block.BlockQueue;
import org.mqblock.block.BlockRequest;
import org.mqblock.block.BlockStatus;
import org.mqblock.block.IoVector;
import org.mqblock.core.loop.AioContext;

/**
 * A device that moves no data ({@code null-co} / {@code null-aio}): reads leave the buffers alone
 * or, with {@code zero}, zero them; writes are dropped. It measures the block layer itself.
 * Completion is {@code inline} (the completion callback runs inside the submit call, as
 * {@code null-co} completes) or from a bottom half (the queue's completion bottom half, batched,
 * as {@code null-aio} completes). {@code multiqueueSafe=false} makes a node the block layer must
 * serialize, for measuring what that costs.
 */
public final class NullDriver implements BlockDriver {

    private final boolean zero;
    private final boolean bhCompletion;
    private final DriverCapabilities caps;
    /** Main loop writes (truncate, drained); any thread reads. */
    private volatile long length;

    public NullDriver(long length, boolean zero, boolean bhCompletion, boolean multiqueueSafe) {
        if (length < 0) {
            throw new IllegalArgumentException("size must be >= 0, got " + length);
        }
        this.length = length;
        this.zero = zero;
        this.bhCompletion = bhCompletion;
        this.caps = new DriverCapabilities(multiqueueSafe, 512, 32 << 20, true, true);
    }

    @Override
    public String format() {
        return "null";
    }

    @Override
    public long length() {
        return length;
    }

    @Override
    public DriverCapabilities capabilities() {
        return caps;
    }

    @Override
    public void truncate(long newLength) {
        length = newLength;
    }

    @Override
    public void readBlocking(long offset, ByteBuffer dst) {
        IoVector.zero(dst, dst.position(), dst.remaining());
    }

    /**
     * Nothing is ever stored, so everything is a hole; with {@code zero} it also reads as zeros
     * (what QEMU's null-co reports).
     */
    @Override
    public long blockStatus(long offset, long length) {
        return BlockDriver.status(length, zero ? STATUS_HOLE | STATUS_ZERO : STATUS_HOLE);
    }

    @Override
    public DriverQueue attach(AioContext ctx) {
        return new Queue();
    }

    @Override
    public void close() {}

    private final class Queue implements DriverQueue {
        @Override
        public void readv(BlockRequest r) {
            if (zero) {
                r.iov().zero(0, r.length());
            }
            done(r);
        }

        @Override
        public void writev(BlockRequest r) {
            done(r);
        }

        @Override
        public void flush(BlockRequest r) {
            done(r);
        }

        @Override
        public void discard(BlockRequest r) {
            done(r);
        }

        @Override
        public void writeZeroes(BlockRequest r) {
            done(r);
        }

        private void done(BlockRequest r) {
            BlockQueue q = r.queue();
            if (bhCompletion) {
                q.completeLater(r, BlockStatus.OK);
            } else {
                q.complete(r, BlockStatus.OK);
            }
        }

        @Override
        public void detach() {}
    }
}
