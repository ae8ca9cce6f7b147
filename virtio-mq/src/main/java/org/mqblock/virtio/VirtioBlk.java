package org.mqblock.virtio;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Lock;
import org.mqblock.block.BlockCompletion;
import org.mqblock.block.BlockDriverState;
import org.mqblock.block.BlockRequest;
import org.mqblock.block.BlockStatus;
import org.mqblock.block.IoVector;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.block.driver.DriverCapabilities;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.DeferCall;
import org.mqblock.core.loop.EventNotifier;
import org.mqblock.core.loop.PollHandler;
import org.mqblock.memory.AddressSpace;
import org.mqblock.memory.DispatchPolicy;
import org.mqblock.memory.Dma;
import org.mqblock.memory.ReentrancyGuard;

/**
 * A virtio-blk device with {@code num_queues} virtqueues (hw/block/virtio-blk.c with
 * {@code iothread-vq-mapping}): each virtqueue is served by the IOThread a {@link VqMapping}
 * gives it, through its own {@link org.mqblock.block.BlockQueue} of one {@link BlockDriverState},
 * its own {@link Dma}, its ioeventfd (an {@link EventNotifier} the loop can busy-poll) and its
 * irqfd (an {@link Interrupt}). Nothing is shared between virtqueues on the request path.
 *
 * <p>Requests: IN, OUT, FLUSH, GET_ID, DISCARD and WRITE_ZEROES (one segment each), answered OK,
 * IOERR or UNSUPP in the status byte. A request past the capacity or not aligned to the block size
 * gets IOERR and writes nothing. Data moves zero-copy: the request's I/O vector points into guest
 * RAM. A guest that breaks the protocol (a malformed chain, missing headers) marks the device
 * broken ({@code virtio_error}): it stops serving until {@link #reset()}, its IOThreads and every
 * other device go on.
 *
 * <p>A completion writes the status, pushes the used element, and raises the interrupt if the
 * driver wants one. With {@code deferCall} the interrupt decision is deferred to the end of the
 * batch (one {@link DeferCall} region per completion batch), so a batch costs one interrupt; the
 * submission side likewise runs a virtqueue's requests in one region ({@code blk_io_plug}).
 *
 * <p>With a {@code bql}, every handler takes it (the single-queue global-mutex baseline: device
 * work in the main loop under the lock the vCPUs also take for their exits).
 *
 * <p>Context: configuration ({@link #negotiate}, {@link #setupQueue}, {@link #driverOk}, {@link
 * #reset}, {@link #close}) from the main loop; {@link #kick(int)} from any thread (a vCPU);
 * handlers in each virtqueue's IOThread.
 */
public final class VirtioBlk implements AutoCloseable {

    /** Tunables of the model. */
    public record Config(int numQueues, int maxQueueSize, boolean deferCall, String serial) {
        public Config {
            if (numQueues < 1 || numQueues > 1024) {
                throw new IllegalArgumentException("num_queues must be in [1, 1024], got " + numQueues);
            }
            if (maxQueueSize < 2 || Integer.bitCount(maxQueueSize) != 1 || maxQueueSize > 1024) {
                throw new IllegalArgumentException("queue size must be a power of two in [2, 1024], got " + maxQueueSize);
            }
        }
    }

    private final String name;
    private final Config config;
    private final BlockDriverState node;
    private final Lock bql;
    private final ReentrancyGuard guard;
    private final Queue[] queues;
    private final int blockSize;
    private final int segMax;
    private final long offered;
    /** The GET_ID answer: the serial, NUL-padded to 20 bytes. Read-only after construction. */
    private final ByteBuffer serialId;

    /** Main loop writes (negotiate); the queues' threads read after driverOk. */
    private volatile long features;
    /** Main loop writes; any thread reads. */
    private volatile boolean started;
    /** Any queue thread sets it (markBroken); the main loop clears it in reset; all read it (volatile). */
    private volatile boolean broken;
    private volatile String brokenReason;
    private final AtomicLong brokenCount = new AtomicLong();

    /**
     * Creates the device and its node: virtqueue {@code i} is served by {@code
     * iothreads.get(mapping.iothreadOf(i))}.
     *
     * @param bql the global mutex of the single-queue baseline, or null
     */
    public VirtioBlk(String name, BlockDriver driver, AddressSpace as, Config config, VqMapping mapping,
                     List<AioContext> iothreads, Lock bql) {
        if (mapping.numQueues() != config.numQueues()) {
            throw new IllegalArgumentException("vq mapping covers " + mapping.numQueues() + " virtqueues, num_queues is "
                    + config.numQueues());
        }
        this.name = Objects.requireNonNull(name, "name");
        this.config = config;
        this.bql = bql;
        this.guard = new ReentrancyGuard(name);
        DriverCapabilities caps = driver.capabilities();
        this.blockSize = Math.max(VirtioBlkSpec.SECTOR_SIZE, caps.requestAlignment());
        this.segMax = Math.max(1, Math.min(config.maxQueueSize() - 2, 254));
        List<AioContext> perQueue = new ArrayList<>();
        for (int i = 0; i < config.numQueues(); i++) {
            perQueue.add(iothreads.get(mapping.iothreadOf(i)));
        }
        this.node = BlockDriverState.create(name, driver, perQueue);
        this.queues = new Queue[config.numQueues()];
        for (int i = 0; i < queues.length; i++) {
            queues[i] = new Queue(i, perQueue.get(i), new Dma(as, perQueue.get(i), guard, DispatchPolicy.RELEASE_REACQUIRE));
        }
        long f = bit(Vring.F_VERSION_1) | bit(Vring.F_INDIRECT_DESC) | bit(Vring.F_EVENT_IDX)
                | bit(VirtioBlkSpec.F_SEG_MAX) | bit(VirtioBlkSpec.F_BLK_SIZE) | bit(VirtioBlkSpec.F_FLUSH)
                | bit(VirtioBlkSpec.F_DISCARD);
        if (config.numQueues() > 1) {
            f |= bit(VirtioBlkSpec.F_MQ);
        }
        if (caps.writeZeroes()) {
            f |= bit(VirtioBlkSpec.F_WRITE_ZEROES);
        }
        this.offered = f;
        byte[] id = new byte[VirtioBlkSpec.ID_BYTES];
        byte[] serial = config.serial().getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(serial, 0, id, 0, Math.min(serial.length, id.length));
        this.serialId = ByteBuffer.wrap(id).asReadOnlyBuffer();
    }

    private static long bit(int b) {
        return 1L << b;
    }

    // ---------------------------------------------------------------------------------------
    // Configuration (main loop)

    /** The features the device offers. */
    public long offeredFeatures() {
        return offered;
    }

    /**
     * Accepts the driver's features, which must be a subset of {@link #offeredFeatures()} and
     * include VERSION_1. Context: the main loop, before {@link #driverOk()}.
     */
    public void negotiate(long driverFeatures) {
        if ((driverFeatures & ~offered) != 0) {
            throw new IllegalArgumentException("driver accepted features the device does not offer: 0x"
                    + Long.toHexString(driverFeatures & ~offered));
        }
        if (!Vring.has(driverFeatures, Vring.F_VERSION_1)) {
            throw new IllegalArgumentException("driver did not accept VIRTIO_F_VERSION_1 (legacy devices are not modelled)");
        }
        features = driverFeatures;
    }

    public long features() {
        return features;
    }

    /** The configuration space as the driver reads it (little-endian). */
    public ByteBuffer configSpace() {
        ByteBuffer c = ByteBuffer.allocate(VirtioBlkSpec.CONFIG_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        long maxSectors = Math.min(0xffffffffL, node.capabilities().maxTransfer() >> VirtioBlkSpec.SECTOR_SHIFT);
        c.putLong(VirtioBlkSpec.CONFIG_CAPACITY, node.length() >> VirtioBlkSpec.SECTOR_SHIFT);
        c.putInt(VirtioBlkSpec.CONFIG_SIZE_MAX, 0);
        c.putInt(VirtioBlkSpec.CONFIG_SEG_MAX, segMax);
        c.putInt(VirtioBlkSpec.CONFIG_BLK_SIZE, blockSize);
        c.putShort(VirtioBlkSpec.CONFIG_NUM_QUEUES, (short) config.numQueues());
        c.putInt(VirtioBlkSpec.CONFIG_MAX_DISCARD_SECTORS, (int) maxSectors);
        c.putInt(VirtioBlkSpec.CONFIG_MAX_DISCARD_SEG, 1);
        c.putInt(VirtioBlkSpec.CONFIG_DISCARD_ALIGNMENT, blockSize >> VirtioBlkSpec.SECTOR_SHIFT);
        c.putInt(VirtioBlkSpec.CONFIG_MAX_WRITE_ZEROES_SECTORS, (int) maxSectors);
        c.putInt(VirtioBlkSpec.CONFIG_MAX_WRITE_ZEROES_SEG, 1);
        c.put(VirtioBlkSpec.CONFIG_WRITE_ZEROES_MAY_UNMAP, (byte) 0);
        return c;
    }

    /** Tells the device where the driver put virtqueue {@code i}. Context: the main loop, before driverOk. */
    public void setupQueue(int i, int size, long desc, long avail, long used) {
        if (started) {
            throw new IllegalStateException(name + ": set up queues before DRIVER_OK or after a reset");
        }
        if (size > config.maxQueueSize()) {
            throw new IllegalArgumentException("queue " + i + ": size " + size + " exceeds the device's " + config.maxQueueSize());
        }
        long f = features;
        queues[i].vq.configure(size, desc, avail, used, Vring.has(f, Vring.F_EVENT_IDX), Vring.has(f, Vring.F_INDIRECT_DESC));
    }

    /** Starts serving: each virtqueue's ioeventfd is watched by its IOThread. Context: the main loop. */
    public void driverOk() {
        for (Queue q : queues) {
            if (!q.vq.isConfigured()) {
                throw new IllegalStateException(name + ": queue " + q.index + " was not set up");
            }
        }
        started = true;
        for (Queue q : queues) {
            q.ctx.acquire();
            try {
                q.ctx.setEventNotifier(q.ioeventfd, true, q::handle, q);
            } finally {
                q.ctx.release();
            }
        }
    }

    /**
     * Resets the device ({@code virtio_reset}): stops watching the virtqueues, waits for every
     * request in flight, forgets the rings and features, and clears a broken state. The driver
     * then negotiates and sets up again. Context: the main loop.
     */
    public void reset() {
        stopWatching();
        node.drainedBegin();
        try {
            for (Queue q : queues) {
                q.ctx.acquire();
                try {
                    q.vq.reset();
                } finally {
                    q.ctx.release();
                }
            }
        } finally {
            node.drainedEnd();
        }
        features = 0;
        broken = false;
        brokenReason = null;
    }

    private void stopWatching() {
        if (!started) {
            return;
        }
        started = false;
        for (Queue q : queues) {
            q.ctx.acquire();
            try {
                q.ctx.removeEventNotifier(q.ioeventfd);
            } finally {
                q.ctx.release();
            }
        }
    }

    /** The guest's notify write for virtqueue {@code i} (a kick): sets its ioeventfd. Context: any thread. */
    public void kick(int i) {
        queues[i].ioeventfd.set();
    }

    public Interrupt interrupt(int i) {
        return queues[i].irq;
    }

    public int numQueues() {
        return queues.length;
    }

    public int segMax() {
        return segMax;
    }

    public int blockSize() {
        return blockSize;
    }

    public BlockDriverState node() {
        return node;
    }

    public String name() {
        return name;
    }

    /** Whether the guest broke the protocol since the last reset (NEEDS_RESET). */
    public boolean isBroken() {
        return broken;
    }

    public String brokenReason() {
        return brokenReason;
    }

    /** How many times the device was marked broken. */
    public long brokenCount() {
        return brokenCount.get();
    }

    /** The device's re-entrancy guard (refusals of its DMA into its own MMIO show there). */
    public ReentrancyGuard guard() {
        return guard;
    }

    @Override
    public void close() {
        stopWatching();
        node.close();
    }

    private void markBroken(String reason) {
        if (!broken) {
            brokenReason = reason;
            brokenCount.incrementAndGet();
            broken = true; // last: whoever sees broken also sees its reason and its count
            System.err.println("virtio-blk " + name + ": " + reason + " (device needs reset)");
        }
    }

    // ---------------------------------------------------------------------------------------
    // One virtqueue

    /** Everything of one virtqueue; lives in its IOThread. */
    private final class Queue implements PollHandler {
        final int index;
        final AioContext ctx;
        final Dma dma;
        final VirtQueue vq;
        final EventNotifier ioeventfd;
        final Interrupt irq;
        final Runnable irqDecision = this::raiseIfWanted;
        // The queue's thread only.
        private final ArrayDeque<Request> free = new ArrayDeque<>();

        Queue(int index, AioContext ctx, Dma dma) {
            this.index = index;
            this.ctx = ctx;
            this.dma = dma;
            this.vq = new VirtQueue(index, dma);
            this.ioeventfd = new EventNotifier(name + "-vq" + index + "-ioeventfd");
            this.irq = new Interrupt(name + "-vq" + index);
        }

        /** The ioeventfd handler ({@code virtio_blk_handle_vq}). */
        void handle() {
            if (broken || !started) {
                return;
            }
            lockBql();
            DeferCall.begin(); // blk_io_plug: what the submissions defer runs once, after the batch
            try {
                do {
                    vq.setNotification(false);
                    while (!broken) {
                        Request r = free.isEmpty() ? new Request(this) : free.pollFirst();
                        if (!vq.pop(r.elem)) {
                            free.addFirst(r);
                            break;
                        }
                        r.start();
                    }
                    vq.setNotification(true);
                } while (!broken && vq.hasWork());
            } catch (VirtioError e) {
                markBroken(e.getMessage());
            } finally {
                DeferCall.end();
                unlockBql();
            }
        }

        @Override
        public boolean poll() {
            return !broken && started && vq.hasWork();
        }

        @Override
        public void pollBegin() {
            if (!broken && started) {
                vq.setNotification(false); // no kicks while we spin on the ring
            }
        }

        @Override
        public void pollEnd() {
            if (!broken && started) {
                vq.setNotification(true);
            }
        }

        private void raiseIfWanted() {
            if (!broken && vq.shouldNotify()) {
                irq.raise();
            }
        }

        void finished(Request r) {
            free.addFirst(r);
        }
    }

    private void lockBql() {
        if (bql != null) {
            bql.lock();
        }
    }

    private void unlockBql() {
        if (bql != null) {
            bql.unlock();
        }
    }

    // ---------------------------------------------------------------------------------------
    // One request

    /** A popped request on its way through the block layer; reused through its queue's free list. */
    private final class Request extends BlockRequest implements BlockCompletion {
        private final Queue q;
        final VqElement elem = new VqElement();
        private final IoVector iov = new IoVector(8);
        private final ByteBuffer header = ByteBuffer.allocate(VirtioBlkSpec.HEADER_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        private final ByteBuffer segment = ByteBuffer.allocate(VirtioBlkSpec.SEGMENT_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        private final ByteBuffer statusByte = ByteBuffer.allocate(1);
        private int type;
        private long dataBytes;

        Request(Queue q) {
            this.q = q;
        }

        /** Parses the request and hands it to the block layer, or completes it at once. */
        void start() {
            if (elem.outCount() < 1 || elem.inCount() < 1) {
                throw fail("request at head " + elem.head() + " is missing its header or status buffer");
            }
            if (elem.copyOut(0, header.clear(), VirtioBlkSpec.HEADER_SIZE) != VirtioBlkSpec.HEADER_SIZE) {
                throw fail("request header at head " + elem.head() + " is shorter than " + VirtioBlkSpec.HEADER_SIZE + " bytes");
            }
            type = header.getInt(VirtioBlkSpec.HEADER_TYPE);
            long sector = header.getLong(VirtioBlkSpec.HEADER_SECTOR);
            long inData = elem.inBytes() - 1; // the last writable byte is the status
            long outData = elem.outBytes() - VirtioBlkSpec.HEADER_SIZE;
            dataBytes = 0;
            iov.clear();
            switch (type) {
                case VirtioBlkSpec.T_IN -> {
                    if (!rangeOk(sector, inData)) {
                        finish(VirtioBlkSpec.S_IOERR, 0);
                        return;
                    }
                    dataBytes = inData;
                    elem.addTo(iov, true, 0, inData);
                    read(sector << VirtioBlkSpec.SECTOR_SHIFT, iov, this);
                }
                case VirtioBlkSpec.T_OUT -> {
                    if (!rangeOk(sector, outData)) {
                        finish(VirtioBlkSpec.S_IOERR, 0);
                        return;
                    }
                    elem.addTo(iov, false, VirtioBlkSpec.HEADER_SIZE, outData);
                    write(sector << VirtioBlkSpec.SECTOR_SHIFT, iov, this);
                }
                case VirtioBlkSpec.T_FLUSH -> flush(this);
                case VirtioBlkSpec.T_GET_ID -> {
                    int n = (int) Math.min(VirtioBlkSpec.ID_BYTES, inData);
                    elem.copyIn(0, serialId, n);
                    finish(VirtioBlkSpec.S_OK, n);
                    return;
                }
                case VirtioBlkSpec.T_DISCARD, VirtioBlkSpec.T_WRITE_ZEROES -> {
                    if (!startRange(outData)) {
                        return;
                    }
                }
                default -> {
                    finish(VirtioBlkSpec.S_UNSUPP, 0);
                    return;
                }
            }
            node.queue(q.index).submit(this);
        }

        /** Parses a discard or write-zeroes segment; returns false when it completed the request itself. */
        private boolean startRange(long outData) {
            boolean zeroes = type == VirtioBlkSpec.T_WRITE_ZEROES;
            if (zeroes ? !Vring.has(features, VirtioBlkSpec.F_WRITE_ZEROES) : !Vring.has(features, VirtioBlkSpec.F_DISCARD)) {
                finish(VirtioBlkSpec.S_UNSUPP, 0);
                return false;
            }
            if (outData != VirtioBlkSpec.SEGMENT_SIZE) {
                finish(VirtioBlkSpec.S_UNSUPP, 0); // max_*_seg is 1
                return false;
            }
            elem.copyOut(VirtioBlkSpec.HEADER_SIZE, segment.clear(), VirtioBlkSpec.SEGMENT_SIZE);
            long sector = segment.getLong(VirtioBlkSpec.SEGMENT_SECTOR);
            long sectors = Integer.toUnsignedLong(segment.getInt(VirtioBlkSpec.SEGMENT_NUM_SECTORS));
            int flags = segment.getInt(VirtioBlkSpec.SEGMENT_FLAGS);
            if ((flags & ~(zeroes ? VirtioBlkSpec.SEGMENT_F_UNMAP : 0)) != 0) {
                finish(VirtioBlkSpec.S_UNSUPP, 0);
                return false;
            }
            long bytes = sectors << VirtioBlkSpec.SECTOR_SHIFT;
            if (!rangeOk(sector, bytes)) {
                finish(VirtioBlkSpec.S_IOERR, 0);
                return false;
            }
            if (zeroes) {
                writeZeroes(sector << VirtioBlkSpec.SECTOR_SHIFT, bytes, this);
            } else {
                discard(sector << VirtioBlkSpec.SECTOR_SHIFT, bytes, this);
            }
            return true;
        }

        /** {@code virtio_blk_sect_range_ok}: inside the capacity and aligned to the block size. */
        private boolean rangeOk(long sector, long bytes) {
            long capacitySectors = node.length() >> VirtioBlkSpec.SECTOR_SHIFT;
            long sectors = bytes >> VirtioBlkSpec.SECTOR_SHIFT;
            if (bytes < 0 || (bytes & (blockSize - 1)) != 0) {
                return false;
            }
            if ((sector << VirtioBlkSpec.SECTOR_SHIFT & (blockSize - 1)) != 0) {
                return false;
            }
            return sector >= 0 && sector <= capacitySectors && sectors <= capacitySectors - sector;
        }

        private VirtioError fail(String why) {
            q.vq.detach(elem);
            q.finished(this);
            return new VirtioError("vq " + q.index + ": " + why);
        }

        /** The block layer finished: status, used element, interrupt. Context: the queue's thread. */
        @Override
        public void complete(BlockRequest r) {
            lockBql();
            try {
                int s = status();
                int vs = s == BlockStatus.OK ? VirtioBlkSpec.S_OK
                        : s == BlockStatus.ENOTSUP ? VirtioBlkSpec.S_UNSUPP : VirtioBlkSpec.S_IOERR;
                finish(vs, vs == VirtioBlkSpec.S_OK ? dataBytes : 0);
            } finally {
                unlockBql();
            }
        }

        /** Writes the status after {@code written} data bytes, pushes, and raises (or defers) the interrupt. */
        private void finish(int status, long written) {
            if (broken) {
                q.vq.detach(elem); // a broken device touches the rings no more; the driver resets them
                q.finished(this);
                return;
            }
            statusByte.put(0, (byte) status);
            elem.copyIn(elem.inBytes() - 1, statusByte, 1);
            q.vq.push(elem, written + 1);
            q.finished(this);
            if (config.deferCall()) {
                DeferCall.defer(q.irqDecision);
            } else {
                q.irqDecision.run();
            }
        }
    }
}
