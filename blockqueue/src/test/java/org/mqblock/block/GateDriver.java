package org.mqblock.block;

import java.nio.ByteBuffer;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.block.driver.DriverCapabilities;
import org.mqblock.block.driver.DriverQueue;
import org.mqblock.core.loop.AioContext;

/**
 * A RAM disk whose requests wait at a gate until the test lets each one through: it sees exactly
 * which requests reached the driver, in which order, and decides when each completes. Requests are
 * applied to the data when released, then completed in their queue's context.
 */
final class GateDriver implements BlockDriver {

    private final ByteBuffer data;
    private final DriverCapabilities caps = new DriverCapabilities(true, 512, 1 << 20, true, true);
    /** Queue threads add, the test thread takes. */
    private final LinkedBlockingQueue<BlockRequest> arrived = new LinkedBlockingQueue<>();
    /** Arrived and not yet released, taken by the test or not (any thread). */
    private final java.util.Set<BlockRequest> held = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** Set once by the test thread; queue threads read it (volatile). */
    private volatile boolean open;

    GateDriver(int size) {
        data = ByteBuffer.allocateDirect(size);
    }

    /** The next request that reached the driver, waiting up to 10 s; fails if none did. */
    BlockRequest next() throws InterruptedException {
        BlockRequest r = arrived.poll(10, TimeUnit.SECONDS);
        if (r == null) {
            throw new AssertionError("no request reached the driver within 10 s");
        }
        return r;
    }

    /** The next request, if one reaches the driver within {@code ms} milliseconds; else null. */
    BlockRequest poll(long ms) throws InterruptedException {
        return arrived.poll(ms, TimeUnit.MILLISECONDS);
    }

    /** Applies {@code r} to the data and completes it with OK in its queue's context. */
    void release(BlockRequest r) {
        if (!held.remove(r)) {
            return; // released already
        }
        synchronized (data) {
            switch (r.op()) {
                case READ -> r.iov().copyFrom(0, data, (int) r.offset(), (int) r.length());
                case WRITE -> r.iov().copyTo(0, data, (int) r.offset(), (int) r.length());
                case WRITE_ZEROES, DISCARD -> org.mqblock.block.IoVector.zero(data, (int) r.offset(), (int) r.length());
                case FLUSH -> { }
            }
        }
        BlockQueue q = r.queue();
        q.context().schedule(() -> q.complete(r, BlockStatus.OK));
    }

    /**
     * Lets everything through from now on, and what waits at the gate now: a test that failed
     * half-way can still close its node (whose drain waits for every request).
     */
    void open() {
        open = true;
        for (BlockRequest r : held) {
            release(r);
        }
    }

    private void arrive(BlockRequest r) {
        held.add(r);
        arrived.add(r);
        if (open) { // after the add: open() either saw it held or we see open
            release(r);
        }
    }

    byte byteAt(int i) {
        synchronized (data) {
            return data.get(i);
        }
    }

    @Override
    public String format() {
        return "gate";
    }

    @Override
    public long length() {
        return data.capacity();
    }

    @Override
    public DriverCapabilities capabilities() {
        return caps;
    }

    @Override
    public DriverQueue attach(AioContext ctx) {
        return new DriverQueue() {
            @Override
            public void readv(BlockRequest r) {
                arrive(r);
            }

            @Override
            public void writev(BlockRequest r) {
                arrive(r);
            }

            @Override
            public void flush(BlockRequest r) {
                arrive(r);
            }

            @Override
            public void discard(BlockRequest r) {
                arrive(r);
            }

            @Override
            public void writeZeroes(BlockRequest r) {
                arrive(r);
            }

            @Override
            public void detach() {}
        };
    }

    @Override
    public void truncate(long newLength) {
        throw new UnsupportedOperationException("gate driver has a fixed size");
    }

    @Override
    public void close() {}
}
