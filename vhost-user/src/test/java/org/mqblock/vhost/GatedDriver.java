package org.mqblock.vhost;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.mqblock.block.BlockRequest;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.block.driver.DriverCapabilities;
import org.mqblock.block.driver.DriverQueue;
import org.mqblock.block.driver.MemoryDriver;
import org.mqblock.core.loop.AioContext;

/**
 * A RAM disk whose requests a test can hold in flight: after {@link #hold()} every request waits
 * in its queue's context until {@link #open()}; {@link #held()} counts those waiting.
 */
final class GatedDriver implements BlockDriver {

    private final MemoryDriver inner;
    private final CopyOnWriteArrayList<Q> queues = new CopyOnWriteArrayList<>();
    /** Test thread writes; queue threads read (volatile). */
    private volatile boolean open = true;
    /** Requests waiting; queue threads change it, the test reads it (atomic). */
    private final AtomicInteger held = new AtomicInteger();

    GatedDriver(long length) {
        this.inner = new MemoryDriver(length);
    }

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

    int held() {
        return held.get();
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
        return inner.capabilities();
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
        final ArrayDeque<BlockRequest> waiting = new ArrayDeque<>();

        Q(AioContext ctx, DriverQueue dq) {
            this.ctx = ctx;
            this.dq = dq;
        }

        void releaseHeld() {
            BlockRequest r;
            while ((r = waiting.pollFirst()) != null) {
                held.decrementAndGet();
                dispatch(r);
            }
        }

        private void take(BlockRequest r) {
            if (!open || !waiting.isEmpty()) {
                waiting.addLast(r);
                held.incrementAndGet();
                return;
            }
            dispatch(r);
        }

        private void dispatch(BlockRequest r) {
            switch (r.op()) {
                case READ -> dq.readv(r);
                case WRITE -> dq.writev(r);
                case FLUSH -> dq.flush(r);
                case DISCARD -> dq.discard(r);
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
