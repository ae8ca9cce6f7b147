package org.mqblock.block.driver;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import org.mqblock.block.BlockOp;
import org.mqblock.block.BlockRequest;
import org.mqblock.block.BlockStatus;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.Timer;

/**
 * An emulated NVMe device: every request spends a media time on one of {@code parallelism}
 * internal channels shared by all queues, then moves its data over one link of fixed bandwidth
 * shared by all channels; a request that finds every channel busy, or the link busy, waits for it.
 * Completions come from timers in the queue's context, so a 2-core machine shows the queueing of
 * a fast device without one.
 *
 * <p>The service time is per operation: a media time for reads, for writes (discard and
 * write-zeroes take the write time and move no data) and for flushes, drawn from a distribution
 * around its mean, plus a transfer time of {@code bytes / bandwidth} for reads and writes. So a
 * 1 MiB read costs what the link makes it cost, and a device of {@code parallelism} channels
 * saturates at {@code parallelism / media time} small requests per second or at its bandwidth,
 * whichever comes first. The defaults are a datacenter NVMe SSD of the PCIe 3.0 generation, the
 * Intel DC P4500 2.0 TB (Lenovo Press product guide 4XB7A08539, Table 2): random 4 KiB read
 * latency 85 us, write 20 us, sequential read 3.2 GB/s, write 1.05 GB/s, 490,000 random-read
 * IOPS (so 42 channels: 490,000 x 85 us). A flush costs no media time (the drive has power-loss
 * protection, so its write cache is durable). Not modelled: garbage collection, which holds that
 * drive's steady random writes at 38,000 IOPS, and read-write interference.
 *
 * <p>Channels and link are device-wide "busy until" times on the monotonic clock. A request claims
 * the channel that frees first, then the link, each with a CAS (no lock, no cross-thread wakeup: a
 * waiting request just gets a later deadline), so queues on different IOThreads contend for the
 * device the way they would for real hardware. Data, if kept ({@code data=memory}), moves when the
 * request completes. {@code errorRate} fails that fraction of requests with EIO (fault injection,
 * as QEMU's {@code blkdebug}).
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

    /** Mean media time of each operation and the link's speed; see {@link Model}. */
    private final Model model;
    private final Distribution distribution;
    private final double errorRate;
    private final long seed;
    private final AtomicLongArray channelFreeAt;
    /** When the link is free; claimed by any queue's thread with a CAS. */
    private final AtomicLong linkFreeAt = new AtomicLong(Long.MIN_VALUE / 2);
    private final AtomicInteger queueSeeds = new AtomicInteger();
    private final MemoryDriver data;
    private final DriverCapabilities caps = new DriverCapabilities(true, 512, 32 << 20, true, true);
    /** Main loop writes (truncate, drained); any thread reads. */
    private volatile long length;

    /**
     * The device's timing: mean media time per operation (ns) and the link's bandwidth (bytes per
     * second, 0: transfers take no time). Immutable.
     */
    public record Model(long readNs, long writeNs, long flushNs, double readBytesPerSec, double writeBytesPerSec,
                        int parallelism) {
        /** The Intel DC P4500 2.0 TB (see the class comment). */
        public static final Model P4500 = new Model(85_000, 20_000, 0, 3.2e9, 1.05e9, 42);

        public Model {
            if (readNs < 0 || writeNs < 0 || flushNs < 0) {
                throw new IllegalArgumentException("latencies must be >= 0 ns, got read " + readNs + ", write " + writeNs
                        + ", flush " + flushNs);
            }
            if (!(readBytesPerSec >= 0) || !(writeBytesPerSec >= 0)) {
                throw new IllegalArgumentException("bandwidths must be >= 0 bytes/s (0: unlimited), got read "
                        + readBytesPerSec + ", write " + writeBytesPerSec);
            }
            if (parallelism < 1) {
                throw new IllegalArgumentException("parallelism must be >= 1, got " + parallelism);
            }
        }

        /** Mean media time of {@code op}. */
        long mediaNs(BlockOp op) {
            return switch (op) {
                case READ -> readNs;
                case WRITE, DISCARD, WRITE_ZEROES -> writeNs;
                case FLUSH -> flushNs;
            };
        }

        /** Time on the link for {@code bytes} of {@code op}: reads and writes move data, the others none. */
        long transferNs(BlockOp op, long bytes) {
            double bw = op == BlockOp.READ ? readBytesPerSec : op == BlockOp.WRITE ? writeBytesPerSec : 0;
            return bw == 0 ? 0 : Math.round(bytes * 1e9 / bw);
        }
    }

    /**
     * @param data keep the data in RAM (else reads leave buffers alone and writes drop it)
     */
    public LatencyDriver(long length, Model model, Distribution distribution, boolean data, double errorRate, long seed) {
        if (!(errorRate >= 0 && errorRate <= 1)) {
            throw new IllegalArgumentException("error rate must be in [0, 1], got " + errorRate);
        }
        this.length = length;
        this.model = model;
        this.distribution = distribution;
        this.errorRate = errorRate;
        this.seed = seed;
        this.channelFreeAt = new AtomicLongArray(model.parallelism());
        for (int i = 0; i < channelFreeAt.length(); i++) {
            channelFreeAt.set(i, Long.MIN_VALUE / 2); // free since long ago, whatever the clock's origin
        }
        this.data = data ? new MemoryDriver(length) : null;
    }

    public Model model() {
        return model;
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

    /** With data kept, the RAM's allocation map ({@link MemoryDriver#blockStatus}); without, all data. */
    @Override
    public long blockStatus(long offset, long length) {
        return data != null ? data.blockStatus(offset, length) : BlockDriver.status(length, 0);
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
     * Claims the channel that frees first for {@code mediaNs}, then the link for {@code
     * transferNs} once the media part is done, and returns when the request completes. Context:
     * any queue's thread (lock-free).
     */
    long reserve(long now, long mediaNs, long transferNs) {
        long mediaDone;
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
            mediaDone = (bestFree - now > 0 ? bestFree : now) + mediaNs;
            if (channelFreeAt.compareAndSet(best, bestFree, mediaDone)) {
                break;
            }
        }
        if (transferNs == 0) {
            return mediaDone;
        }
        while (true) {
            long free = linkFreeAt.get();
            long end = (free - mediaDone > 0 ? free : mediaDone) + transferNs;
            if (linkFreeAt.compareAndSet(free, end)) {
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
            BlockOp op = r.op();
            p.timer.armAt(reserve(ctx.clock().nanoTime(), mediaTime(model.mediaNs(op)), model.transferNs(op, r.length())));
        }

        private long mediaTime(long meanNs) {
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
                    case DISCARD -> data.discard(r.offset(), r.length());
                    case WRITE_ZEROES -> data.zero(r.offset(), r.length());
                    case FLUSH -> { }
                }
            }
            r.queue().complete(r, BlockStatus.OK);
        }
    }
}
