package org.mqblock.virtio;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import org.mqblock.block.BlockRequest;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.block.driver.DriverCapabilities;
import org.mqblock.block.driver.DriverQueue;
import org.mqblock.block.driver.MemoryDriver;
import org.mqblock.core.loop.AioContext;

/**
 * A RAM disk whose requests the test can hold: while the gate is closed every request waits in
 * its queue's context, in flight, until {@link #open()}; and it counts what reached it, in order,
 * so a test can check what the device asked of its backend.
 */
final class GatedDriver implements BlockDriver {

    private final MemoryDriver inner;
    private final DriverCapabilities caps;
    private final CopyOnWriteArrayList<Q> queues = new CopyOnWriteArrayList<>();
    /** Test thread writes; queue threads read (volatile). */
    private volatile boolean open = true;
    final AtomicLong writes = new AtomicLong();
    final AtomicLong flushes = new AtomicLong();
    final AtomicLong discards = new AtomicLong();

    GatedDriver(long length, DriverCapabilities caps) {
        this.inner = new MemoryDriver(length);
        this.caps = caps;
    }

    GatedDriver(long length) {
        this(length, new DriverCapabilities(true, 512, 32 << 20, true, true));
    }

    /** Later requests wait until {@link #open()}. */
    void hold() {
        open = false;
    }

    /** Lets every held request and every later one through. */
    void open() {
        open = true;
        for (Q q : queues) {
            q.ctx.schedule(q::releaseHeld);
        }
    }

    @Override
    public String format() {
        return "gated";
    }

    @Override
    public long length() {
        return inner.length();
    }

    @Override
    public DriverCapabilities capabilities() {
        return caps;
    }

    @Override
    public DriverQueue attach(AioContext ctx) {
        Q q = new Q(ctx, inner.attach(ctx));
        queues.add(q);
        return q;
    }

    @Override
    public void truncate(long newLength) throws IOException {
        inner.truncate(newLength);
    }

    @Override
    public void close() throws IOException {
        inner.close();
    }

    private final class Q implements DriverQueue {
        final AioContext ctx;
        final DriverQueue dq;
        /** The queue's thread only. */
        final ArrayDeque<BlockRequest> held = new ArrayDeque<>();

        Q(AioContext ctx, DriverQueue dq) {
            this.ctx = ctx;
            this.dq = dq;
        }

        void releaseHeld() {
            BlockRequest r;
            while ((r = held.pollFirst()) != null) {
                dispatch(r);
            }
        }

        private void take(BlockRequest r) {
            if (!open || !held.isEmpty()) {
                held.addLast(r);
                return;
            }
            dispatch(r);
        }

        private void dispatch(BlockRequest r) {
            switch (r.op()) {
                case READ -> dq.readv(r);
                case WRITE -> {
                    writes.incrementAndGet();
                    dq.writev(r);
                }
                case FLUSH -> {
                    flushes.incrementAndGet();
                    dq.flush(r);
                }
                case DISCARD -> {
                    discards.incrementAndGet();
                    dq.discard(r);
                }
                case WRITE_ZEROES -> dq.writeZeroes(r);
            }
        }

        @Override
        public void readv(BlockRequest r) {
            take(r);
        }

        @Override
        public void writev(BlockRequest r) {
            take(r);
        }

        @Override
        public void flush(BlockRequest r) {
            take(r);
        }

        @Override
        public void discard(BlockRequest r) {
            take(r);
        }

        @Override
        public void writeZeroes(BlockRequest r) {
            take(r);
        }

        @Override
        public void detach() {
            dq.detach();
        }
    }
}
