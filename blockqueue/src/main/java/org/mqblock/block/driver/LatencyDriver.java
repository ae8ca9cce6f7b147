package org.mqblock.block.driver;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import org.mqblock.block.BlockRequest;
import org.mqblock.block.BlockStatus;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.Timer;

/**
 * An emulated NVMe device: every request takes a service time drawn from a distribution, on one
 * of {@code parallelism} internal channels shared by all queues; a request that finds every
 * channel busy waits for the first to free up. Completions come from timers in the queue's
 * context, so a 2-core machine shows the queueing of a fast device without one.
 *
 * <p>The channels are a device-wide array of "busy until" times on the monotonic clock. A request
 * claims the channel that frees first with a CAS (no lock, no cross-thread wakeup: a waiting
 * request just gets a later deadline), so queues on different IOThreads contend for the device the
 * way they would for real hardware. Data, if kept ({@code data=memory}), moves when the request
 * completes. {@code errorRate} fails that fraction of requests with EIO (fault injection, as
 * QEMU's {@code blkdebug}).
 */
public final class LatencyDriver implements BlockDriver {

    /** How service times are drawn around the mean. */
    public enum Distribution {
        /** Always the mean. */
        FIXED,
        /** Exponential (memoryless), the classic M/M/c device. */
        EXP,
        /** Uniform in [mean/2, 3*mean/2]. */
        UNIFORM;

        public static final List<String> NAMES = List.of("fixed", "exp", "uniform");
    }

    private final long meanNs;
    private final Distribution distribution;
    private final double errorRate;
    private final long seed;
    private final AtomicLongArray channelFreeAt;
    private final AtomicInteger queueSeeds = new AtomicInteger();
    private final MemoryDriver data;
    private final DriverCapabilities caps = new DriverCapabilities(true, 512, 32 << 20, true, true);
    /** Main loop writes (truncate, drained); any thread reads. */
    private volatile long length;

    /**
     * @param data keep the data in RAM (else reads leave buffers alone and writes drop it)
     */
    public LatencyDriver(long length, long meanNs, Distribution distribution, int parallelism, boolean data,
                         double errorRate, long seed) {
        if (meanNs < 0) {
            throw new IllegalArgumentException("latency must be >= 0 ns, got " + meanNs);
        }
        if (parallelism < 1) {
            throw new IllegalArgumentException("parallelism must be >= 1, got " + parallelism);
        }
        if (!(errorRate >= 0 && errorRate <= 1)) {
            throw new IllegalArgumentException("error rate must be in [0, 1], got " + errorRate);
        }
        this.length = length;
        this.meanNs = meanNs;
        this.distribution = distribution;
        this.errorRate = errorRate;
        this.seed = seed;
        this.channelFreeAt = new AtomicLongArray(parallelism);
        this.data = data ? new MemoryDriver(length) : null;
    }

    @Override
    public String format() {
        return "latency";
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
        if (data != null) {
            data.truncate(newLength);
        }
        length = newLength;
    }

    @Override
    public void readBlocking(long offset, ByteBuffer dst) {
        if (data != null) {
            data.readBlocking(offset, dst);
        }
    }

    @Override
    public DriverQueue attach(AioContext ctx) {
        return new Queue(ctx, new SplittableRandom(seed * 31 + queueSeeds.getAndIncrement()));
    }

    @Override
    public void close() {
        if (data != null) {
            data.close();
        }
    }

    /**
     * Claims the channel that frees first and returns when this request will be done on it.
     * Context: any queue's thread (lock-free).
     */
    long reserve(long now, long serviceNs) {
        while (true) {
            int best = 0;
            long bestFree = channelFreeAt.get(0);
            for (int i = 1; i < channelFreeAt.length(); i++) {
                long f = channelFreeAt.get(i);
                if (f - bestFree < 0) {
                    best = i;
                    bestFree = f;
                }
            }
            long start = bestFree - now > 0 ? bestFree : now;
            long end = start + serviceNs;
            if (channelFreeAt.compareAndSet(best, bestFree, end)) {
                return end;
            }
        }
    }

    private final class Queue implements DriverQueue {
        private final AioContext ctx;
        // The queue's context thread only.
        private final SplittableRandom random;
        private final ArrayDeque<Pending> free = new ArrayDeque<>();

        Queue(AioContext ctx, SplittableRandom random) {
            this.ctx = ctx;
            this.random = random;
        }

        private void start(BlockRequest r) {
            Pending p = free.pollFirst();
            if (p == null) {
                p = new Pending(this);
            }
            p.request = r;
            p.timer.armAt(reserve(ctx.clock().nanoTime(), serviceTime()));
        }

        private long serviceTime() {
            return switch (distribution) {
                case FIXED -> meanNs;
                case EXP -> (long) (-meanNs * Math.log(1.0 - random.nextDouble()));
                case UNIFORM -> meanNs / 2 + (long) (random.nextDouble() * meanNs);
            };
        }

        @Override
        public void readv(BlockRequest r) {
            start(r);
        }

        @Override
        public void writev(BlockRequest r) {
            start(r);
        }

        @Override
        public void flush(BlockRequest r) {
            start(r);
        }

        @Override
        public void discard(BlockRequest r) {
            start(r);
        }

        @Override
        public void writeZeroes(BlockRequest r) {
            start(r);
        }

        @Override
        public void detach() {
            free.clear();
        }
    }

    /** A request on the device; its timer fires when the device is done with it. */
    private final class Pending {
        private final Queue owner;
        private final Timer timer;
        BlockRequest request;

        Pending(Queue owner) {
            this.owner = owner;
            this.timer = owner.ctx.newTimer("latency-completion", this::fire);
        }

        private void fire() {
            BlockRequest r = request;
            request = null;
            owner.free.addFirst(this);
            if (errorRate > 0 && owner.random.nextDouble() < errorRate) {
                r.queue().complete(r, BlockStatus.EIO);
                return;
            }
            if (data != null) {
                switch (r.op()) {
                    case READ -> data.read(r.offset(), r.iov(), r.length());
                    case WRITE -> data.write(r.offset(), r.iov(), r.length());
                    case DISCARD, WRITE_ZEROES -> data.zero(r.offset(), r.length());
                    case FLUSH -> { }
                }
            }
            r.queue().complete(r, BlockStatus.OK);
        }
    }
}
