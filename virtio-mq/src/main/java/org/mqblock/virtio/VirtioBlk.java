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
import org.mqblock.core.loop.AioWait;
import org.mqblock.core.loop.DeferCall;
import org.mqblock.core.loop.EventNotifier;
import org.mqblock.core.loop.FdSignal;
import org.mqblock.core.loop.PollHandler;
import org.mqblock.memory.AddressSpace;
import org.mqblock.memory.DispatchPolicy;
import org.mqblock.memory.Dma;
import org.mqblock.memory.MemoryRegion;
import org.mqblock.memory.RamRegion;
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
 * RAM. A guest that breaks the protocol (a malformed chain, missing headers, rings that stopped
 * being RAM) marks the device broken ({@code virtio_error}): it sets DEVICE_NEEDS_RESET, sends a
 * configuration change notification, writes the error fds, and stops serving until {@link
 * #reset()}; its IOThreads and every other device go on. Without FLUSH negotiated the device is
 * writethrough: each write is flushed before it completes.
 *
 * <p>A completion writes the status, pushes the used element, and raises the interrupt if the
 * driver wants one. With {@code deferCall} the interrupt decision is deferred to the end of the
 * batch (one {@link DeferCall} region per completion batch), so a batch costs one interrupt; the
 * submission side likewise runs a virtqueue's requests in one region ({@code blk_io_plug}).
 *
 * <p>With a {@code bql}, every handler takes it (the single-queue global-mutex baseline: device
 * work in the main loop under the lock QEMU calls the BQL); {@link #kick} never does, as a KVM
 * ioeventfd completes the guest's notify write without it.
 *
 * <p>Two ways to run it, one code path. The in-JVM driver model sets every queue up and then
 * starts them all ({@link #negotiate}, {@link #setupQueue}, {@link #driverOk}, {@link #reset});
 * a vhost-user back-end starts and stops each virtqueue on its own ({@link #startQueue}, {@link
 * #stopQueue}), with a kick eventfd another process writes, a call eventfd it may replace while
 * the queue runs ({@link #setCall}) and an error eventfd per queue ({@link #setErrorSignal}).
 * {@link #driverOk} and {@link #reset} are built on those per-queue operations.
 *
 * <p>Context: configuration ({@link #negotiate}, {@link #setupQueue}, {@link #driverOk}, {@link
 * #reset}, {@link #startQueue}, {@link #stopQueue}, {@link #setCall}, {@link #setErrorSignal},
 * {@link #close}) from the main loop, one caller at a time; {@link #kick(int)} from any thread
 * (a vCPU); handlers in each virtqueue's IOThread.
 */
public final class VirtioBlk implements AutoCloseable {

    /**
     * Tunables of the model.
     *
     * @param readOnly offer VIRTIO_BLK_F_RO: OUT, DISCARD and WRITE_ZEROES answer IOERR and write nothing
     * @param logicalBlockSize {@code blk_size} in the config space: a power of two in [512, 64 KiB]
     *     (Linux refuses larger ones) and at least the backend's request alignment; requests not
     *     aligned to it get IOERR
     */
    public record Config(int numQueues, int maxQueueSize, boolean deferCall, String serial, boolean readOnly,
                         int logicalBlockSize) {
        public Config {
            if (numQueues < 1 || numQueues > 1024) {
                throw new IllegalArgumentException("num_queues must be in [1, 1024], got " + numQueues);
            }
            if (maxQueueSize < 2 || Integer.bitCount(maxQueueSize) != 1 || maxQueueSize > 1024) {
                throw new IllegalArgumentException("queue size must be a power of two in [2, 1024], got " + maxQueueSize);
            }
            Objects.requireNonNull(serial, "serial");
            if (logicalBlockSize < VirtioBlkSpec.SECTOR_SIZE || logicalBlockSize > 65536 || Integer.bitCount(logicalBlockSize) != 1) {
                throw new IllegalArgumentException("logical block size must be a power of two in [512, 65536], got "
                        + logicalBlockSize);
            }
        }

        /** A writable disk with 512-byte logical blocks. */
        public Config(int numQueues, int maxQueueSize, boolean deferCall, String serial) {
            this(numQueues, maxQueueSize, deferCall, serial, false, VirtioBlkSpec.SECTOR_SIZE);
        }
    }

    private final String name;
    private final Config config;
    private final AddressSpace as;
    private final BlockDriverState node;
    private final Lock bql;
    private final ReentrancyGuard guard;
    private final Queue[] queues;
    private final int blockSize;
    private final int segMax;
    private final long offered;
    /** The GET_ID answer: the serial, NUL-padded to 20 bytes. Read-only after construction. */
    private final ByteBuffer serialId;

    /** Main loop writes (negotiate, no queue running); the queues' threads read (volatile). */
    private volatile long features;
    /**
     * Guards the broken state's transitions and the queues' error signals: markBroken (any queue
     * thread) against setErrorSignal and reset (main loop). A leaf lock: nothing is taken inside.
     */
    private final Object brokenLock = new Object();
    /** Set under brokenLock by any queue thread (markBroken), cleared under it by reset; read by all (volatile). */
    private volatile boolean broken;
    /** Written under brokenLock before {@code broken}; read after it (volatile). */
    private volatile String brokenReason;
    /**
     * The device status bits the device sets (FEATURES_OK, DRIVER_OK, DEVICE_NEEDS_RESET);
     * written under brokenLock by the main loop and by markBroken; any thread reads (volatile).
     */
    private volatile int status;
    /** The configuration change notification (VIRTIO 1.2 4.1.4.5 ISR bit 1): raised when the device breaks. */
    private final Interrupt configInterrupt;
    private final AtomicLong brokenCount = new AtomicLong();
    /** Kicks naming a queue that does not exist; any thread (a vCPU) increments. */
    private final AtomicLong strayKicks = new AtomicLong();

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
        this.as = as;
        this.bql = bql;
        this.guard = new ReentrancyGuard(name);
        DriverCapabilities caps = driver.capabilities();
        if (config.logicalBlockSize() < caps.requestAlignment()) {
            throw new IllegalArgumentException(name + ": logical block size " + config.logicalBlockSize()
                    + " is smaller than the backend's request alignment " + caps.requestAlignment());
        }
        this.blockSize = config.logicalBlockSize();
        this.segMax = Math.max(1, Math.min(config.maxQueueSize() - 2, 254));
        List<AioContext> perQueue = new ArrayList<>();
        for (int i = 0; i < config.numQueues(); i++) {
            perQueue.add(iothreads.get(mapping.iothreadOf(i)));
        }
        this.node = BlockDriverState.create(name, driver, perQueue);
        this.configInterrupt = new Interrupt(name + "-config");
        this.queues = new Queue[config.numQueues()];
        for (int i = 0; i < queues.length; i++) {
            queues[i] = new Queue(i, perQueue.get(i), new Dma(as, perQueue.get(i), guard, DispatchPolicy.RELEASE_REACQUIRE));
        }
        long f = bit(Vring.F_VERSION_1) | bit(Vring.F_INDIRECT_DESC) | bit(Vring.F_EVENT_IDX)
                | bit(VirtioBlkSpec.F_SEG_MAX) | bit(VirtioBlkSpec.F_BLK_SIZE) | bit(VirtioBlkSpec.F_FLUSH);
        if (caps.discard()) { // a backend that ignores discards would only make the guest send them for nothing
            f |= bit(VirtioBlkSpec.F_DISCARD);
        }
        if (config.numQueues() > 1) {
            f |= bit(VirtioBlkSpec.F_MQ);
        }
        if (caps.writeZeroes()) {
            f |= bit(VirtioBlkSpec.F_WRITE_ZEROES);
        }
        if (config.readOnly()) {
            f |= bit(VirtioBlkSpec.F_RO);
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

    /** The features the device offers. Context: any thread. */
    public long offeredFeatures() {
        return offered;
    }

    /**
     * Accepts the driver's features (FEATURES_OK), which must be a subset of {@link
     * #offeredFeatures()} and include VERSION_1; anything else is refused with the bits at fault.
     * No bit offered here depends on another (VIRTIO 1.2 2.2.1 forbids accepting a feature without
     * one it requires; among these bits the spec states no such requirement). Without FLUSH
     * the device is writethrough: each write is flushed before it completes, since the driver
     * then assumes no write cache and never flushes. Context: the main loop, while no queue runs.
     */
    public void negotiate(long driverFeatures) {
        for (Queue q : queues) {
            if (q.running) {
                throw new IllegalStateException(name + ": features cannot change while queue " + q.index + " runs");
            }
        }
        if ((driverFeatures & ~offered) != 0) {
            throw new IllegalArgumentException("driver accepted features the device does not offer: 0x"
                    + Long.toHexString(driverFeatures & ~offered));
        }
        if (!Vring.has(driverFeatures, Vring.F_VERSION_1)) {
            throw new IllegalArgumentException("driver did not accept VIRTIO_F_VERSION_1 (legacy devices are not modelled)");
        }
        features = driverFeatures;
        synchronized (brokenLock) {
            status |= Vring.STATUS_FEATURES_OK;
        }
    }

    /** The negotiated features. Context: any thread. */
    public long features() {
        return features;
    }

    /** The configuration space as the driver reads it (little-endian). Context: any thread. */
    public ByteBuffer configSpace() {
        ByteBuffer c = ByteBuffer.allocate(VirtioBlkSpec.CONFIG_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        long maxSectors = maxRangeSectors();
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

    /** {@code max_discard_sectors} and {@code max_write_zeroes_sectors}: what the backend takes in one request. */
    private long maxRangeSectors() {
        return Math.min(0xffffffffL, node.capabilities().maxTransfer() >> VirtioBlkSpec.SECTOR_SHIFT);
    }

    /**
     * Bytes {@code [offset, offset + len)} of the configuration space (vhost-user's GET_CONFIG;
     * QEMU 7.2 reads 57 bytes at 0). Context: any thread.
     *
     * @throws IllegalArgumentException if the range is not inside the {@value VirtioBlkSpec#CONFIG_SIZE}-byte space
     */
    public byte[] readConfig(int offset, int len) {
        if (offset < 0 || len < 0 || len > VirtioBlkSpec.CONFIG_SIZE - offset) {
            throw new IllegalArgumentException(name + ": config read " + offset + "+" + len + " is outside the "
                    + VirtioBlkSpec.CONFIG_SIZE + "-byte config space");
        }
        byte[] out = new byte[len];
        configSpace().get(offset, out);
        return out;
    }

    /**
     * Tells the device where the in-JVM driver put virtqueue {@code i}; {@link #driverOk} starts
     * it there. Context: the main loop, while that queue is stopped.
     */
    public void setupQueue(int i, int size, long desc, long avail, long used) {
        Queue q = queue(i, "set up");
        if (q.running) {
            throw new IllegalStateException(name + ": queue " + i + " runs; set it up before DRIVER_OK or after a reset");
        }
        checkSize(i, size);
        checkRings(i, size, desc, avail, used);
        q.setupSize = size;
        q.setupDesc = desc;
        q.setupAvail = avail;
        q.setupUsed = used;
    }

    /**
     * Starts serving every virtqueue where {@link #setupQueue} put it, from index 0, each watched
     * by its IOThread through its in-process ioeventfd ({@link #kick}). Validates every queue
     * before starting any. Context: the main loop.
     */
    public void driverOk() {
        for (Queue q : queues) {
            if (q.setupSize == 0) {
                throw new IllegalStateException(name + ": queue " + q.index + " was not set up");
            }
            checkRings(q.index, q.setupSize, q.setupDesc, q.setupAvail, q.setupUsed); // the memory map may have changed since
        }
        for (Queue q : queues) {
            start(q, q.setupSize, q.setupDesc, q.setupAvail, q.setupUsed, 0, 0, q.guestKick);
        }
        synchronized (brokenLock) {
            status |= Vring.STATUS_DRIVER_OK;
        }
    }

    /**
     * Starts virtqueue {@code i} alone (others may be running), as a vhost-user back-end does
     * once it has the ring addresses, the base and the kick fd: rings at guest-physical {@code
     * desc}, {@code avail}, {@code used} of {@code size} entries, the next chain to pop at {@code
     * availBase} ({@code last_avail_idx}, from SET_VRING_BASE), the next used element where the
     * used ring's index says (what libvhost-user reads on start). The queue's IOThread watches
     * {@code kick} (which its monitor must take: the epoll monitor) and busy-polls the avail
     * index as {@code virtio_queue_host_notifier_aio_poll} does; chains made available before the
     * start are served without waiting for a kick. The features are those {@link #negotiate}
     * accepted. Context: the main loop.
     *
     * @param kick the kick eventfd; null: the in-process ioeventfd that {@link #kick} sets
     * @throws IllegalArgumentException for a queue that does not exist, a bad size or base
     * @throws IllegalStateException if the queue runs already
     */
    public void startQueue(int i, int size, long desc, long avail, long used, int availBase, FdSignal kick) {
        Queue q = queue(i, "start");
        if (availBase < 0 || availBase > 0xffff) {
            throw new IllegalArgumentException(name + ": queue " + i + ": avail base " + availBase + " is not a 16-bit index");
        }
        checkSize(i, size);
        checkRings(i, size, desc, avail, used);
        EventNotifier n = kick == null ? q.guestKick : new EventNotifier(name + "-vq" + i + "-kick", kick);
        start(q, size, desc, avail, used, availBase, -1, n);
    }

    /**
     * The one way a queue starts. {@code usedBase} -1: read the used index from the ring.
     * Context: the main loop.
     */
    private void start(Queue q, int size, long desc, long avail, long used, int availBase, int usedBase, EventNotifier kick) {
        q.ctx.acquire();
        try {
            if (q.running) {
                throw new IllegalStateException(name + ": queue " + q.index + " runs already; stop it first");
            }
            long f = features;
            q.vq.configure(size, desc, avail, used, Vring.has(f, Vring.F_EVENT_IDX), Vring.has(f, Vring.F_INDIRECT_DESC));
            q.vq.start(availBase, usedBase < 0 ? q.vq.readUsedIdx() : usedBase);
            q.watched = kick;
            q.running = true;
            q.ctx.setEventNotifier(kick, true, q.handler, q);
            kick.set(); // chains made available while stopped came without a kick (as virtio_queue_aio_attach_host_notifier)
        } finally {
            q.ctx.release();
        }
    }

    /**
     * Stops virtqueue {@code i} (vhost-user's GET_VRING_BASE): its IOThread stops watching the
     * kick and pops nothing more; then this waits, in the queue's context ({@link AioWait}),
     * until every chain popped from the queue was pushed back as used (each exactly once) or
     * dropped by a broken device, and until the handler that completed the last one has returned
     * (so its deferred interrupt decision has run too). Returns {@code last_avail_idx}, the base
     * to start again from. On a stopped queue it only returns that again. Context: the main loop.
     *
     * @throws IllegalArgumentException for a queue that does not exist
     */
    public int stopQueue(int i) {
        Queue q = queue(i, "stop");
        q.ctx.acquire();
        try {
            if (q.running) {
                q.running = false; // handlers under the context see it at once; the poll handler goes with the notifier
                q.ctx.removeEventNotifier(q.watched);
                q.watched = null;
            }
        } finally {
            q.ctx.release();
        }
        AioWait.waitWhile(q.ctx, () -> q.vq.inuse() > 0);
        q.ctx.acquire(); // the handler that pushed the last one held the context to its end
        try {
            return q.vq.lastAvailIdx();
        } finally {
            q.ctx.release();
        }
    }

    /**
     * Replaces the eventfd the interrupt of virtqueue {@code i} writes (vhost-user's
     * SET_VRING_CALL; null: none), even while the queue runs. Returns only when the old one is
     * used no more, so the caller may close it.
     *
     * <p>Why that holds: every raise of this queue's interrupt runs in the queue's context, holding
     * it from its read of the irqfd to its write, with no release in between (the raise does no
     * DMA, so no recursive dispatch lets go of the context). The swap is made holding that
     * context, so no raise is in progress while it happens, and every later raise takes the lock
     * after the release that follows the swap and so reads the new fd. Context: the main loop.
     */
    public void setCall(int i, FdSignal call) {
        Queue q = queue(i, "set the call fd of");
        q.ctx.acquire();
        try {
            q.irq.setIrqfd(call);
        } finally {
            q.ctx.release();
        }
    }

    /**
     * The eventfd written (once) when the device is marked broken, for virtqueue {@code i}
     * (vhost-user's SET_VRING_ERR; null: none). A broken device stops serving every queue, so
     * each queue's error fd is written. Returns only when the old one is used no more (the
     * broken transition writes them under the lock this takes). Context: the main loop.
     */
    public void setErrorSignal(int i, FdSignal err) {
        Queue q = queue(i, "set the error fd of");
        synchronized (brokenLock) {
            q.errSignal = err;
        }
    }

    /**
     * Resets the device ({@code virtio_reset}): stops every queue (waiting for what it has in
     * flight), forgets the rings, their sizes and the features, and clears a broken state. The
     * driver then negotiates and sets up again. Call and error fds stay. Context: the main loop.
     */
    public void reset() {
        for (Queue q : queues) {
            stopQueue(q.index);
            q.ctx.acquire();
            try {
                q.vq.unconfigure();
            } finally {
                q.ctx.release();
            }
            q.setupSize = 0;
            q.setupDesc = 0;
            q.setupAvail = 0;
            q.setupUsed = 0;
        }
        features = 0;
        synchronized (brokenLock) {
            broken = false;
            brokenReason = null;
            status = 0;
        }
    }

    /**
     * The guest's notify write for virtqueue {@code i} (a kick): sets its ioeventfd. A guest that
     * names a queue that does not exist is counted ({@link #strayKickCount()}) and ignored, as
     * virtio-pci's notify write ignores it in QEMU: the guest's mistake, nothing to serve.
     * Context: any thread.
     */
    public void kick(int i) {
        if (i < 0 || i >= queues.length) {
            strayKicks.incrementAndGet();
            return;
        }
        queues[i].guestKick.set();
    }

    /** Kicks that named a queue that does not exist. Context: any thread. */
    public long strayKickCount() {
        return strayKicks.get();
    }

    /** Virtqueue {@code i}'s interrupt. Context: any thread. */
    public Interrupt interrupt(int i) {
        return queue(i, "get the interrupt of").irq;
    }

    /** Whether virtqueue {@code i} is started. Context: any thread. */
    public boolean isRunning(int i) {
        return queue(i, "query").running;
    }

    /** The size virtqueue {@code i} was started or set up with; 0 if none. Context: the main loop. */
    public int queueSize(int i) {
        Queue q = queue(i, "query");
        if (!q.running) {
            return q.setupSize;
        }
        q.ctx.acquire();
        try {
            return q.vq.size();
        } finally {
            q.ctx.release();
        }
    }

    /** The tunables the device was made with (its largest queue size: vhost-user's GET_QUEUE_NUM). */
    public Config config() {
        return config;
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

    /**
     * The device status bits the device sets: FEATURES_OK after {@link #negotiate}, DRIVER_OK after
     * {@link #driverOk}, DEVICE_NEEDS_RESET once broken (what a driver reads after the
     * configuration change notification); 0 after {@link #reset}. Context: any thread.
     */
    public int deviceStatus() {
        return status;
    }

    /**
     * The configuration change notification: raised once when the device is marked broken, so a
     * driver waiting for completions that will never come reads {@link #deviceStatus()} and gives
     * up. Context: any thread.
     */
    public Interrupt configInterrupt() {
        return configInterrupt;
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

    /** Stops every queue and closes the node. Context: the main loop. */
    @Override
    public void close() {
        for (Queue q : queues) {
            stopQueue(q.index);
        }
        node.close();
    }

    private Queue queue(int i, String what) {
        if (i < 0 || i >= queues.length) {
            throw new IllegalArgumentException(name + ": cannot " + what + " queue " + i + ": num_queues is " + queues.length);
        }
        return queues[i];
    }

    private void checkSize(int i, int size) {
        if (size < 1 || size > config.maxQueueSize() || Integer.bitCount(size) != 1) {
            throw new IllegalArgumentException(name + ": queue " + i + ": size " + size
                    + " is not a power of two in [1, " + config.maxQueueSize() + "]");
        }
    }

    /**
     * Checks that the three rings of queue {@code i} are aligned as VIRTIO 1.2 2.7 requires
     * (descriptor table 16, available ring 2, used ring 4 bytes) and lie each inside one RAM
     * region, event fields included: rings are read and written on every request, so a bad
     * address is refused here, by name, rather than met in the IOThread.
     */
    private void checkRings(int i, int size, long desc, long avail, long used) {
        checkRing(i, "descriptor table", desc, 16, Vring.descTableBytes(size));
        checkRing(i, "available ring", avail, 2, Vring.availBytes(size));
        checkRing(i, "used ring", used, 4, Vring.usedBytes(size));
    }

    private void checkRing(int i, String ring, long addr, int align, long bytes) {
        String at = name + ": queue " + i + ": " + ring + " at 0x" + Long.toHexString(addr);
        if ((addr & (align - 1)) != 0) {
            throw new IllegalArgumentException(at + " is not " + align + "-byte aligned");
        }
        MemoryRegion r = addr < 0 ? null : as.regionAt(addr);
        if (!(r instanceof RamRegion)) {
            throw new IllegalArgumentException(at + " is not in guest RAM" + (r == null ? "" : " (region '" + r.name() + "' is MMIO)"));
        }
        long base = as.baseOf(r);
        if (bytes > base + r.size() - addr) {
            throw new IllegalArgumentException(at + " (" + bytes + " bytes) runs off the end of RAM region '" + r.name()
                    + "' [0x" + Long.toHexString(base) + ", 0x" + Long.toHexString(base + r.size()) + ")");
        }
    }

    /**
     * {@code virtio_error}: stop serving until reset, set DEVICE_NEEDS_RESET, send the
     * configuration change notification and write each queue's error fd, once. Context: any
     * queue's thread.
     */
    private void markBroken(String reason) {
        synchronized (brokenLock) {
            if (broken) {
                return;
            }
            brokenReason = reason;
            brokenCount.incrementAndGet();
            status |= Vring.STATUS_DEVICE_NEEDS_RESET;
            broken = true; // last: whoever sees broken also sees its reason, count and status
            for (Queue q : queues) {
                if (q.errSignal != null) {
                    q.errSignal.signal();
                }
            }
        }
        configInterrupt.raise(); // after the status: a driver woken by it reads NEEDS_RESET (virtio_error does the same)
        System.err.println("virtio-blk " + name + ": " + reason + " (device needs reset)");
    }

    // ---------------------------------------------------------------------------------------
    // One virtqueue

    /** Everything of one virtqueue; lives in its IOThread. */
    private final class Queue implements PollHandler {
        final int index;
        final AioContext ctx;
        final Dma dma;
        final VirtQueue vq;
        /** The in-process ioeventfd {@link #kick} sets; watched while the queue runs without a kick fd. */
        final EventNotifier guestKick;
        final Interrupt irq;
        final Runnable handler = this::handle;
        final Runnable irqDecision = this::raiseIfWanted;
        // The main loop only: where setupQueue says the rings are, for driverOk.
        int setupSize;
        long setupDesc;
        long setupAvail;
        long setupUsed;
        /** The notifier the context watches while running; the main loop writes and reads it, holding the context. */
        EventNotifier watched;
        /**
         * Whether the queue serves. The main loop writes it holding the context, so handlers
         * (which run holding it) see each change at once; other threads read it (volatile).
         */
        volatile boolean running;
        /** The error fd; under brokenLock. */
        FdSignal errSignal;
        // The queue's thread only.
        private final ArrayDeque<Request> free = new ArrayDeque<>();

        Queue(int index, AioContext ctx, Dma dma) {
            this.index = index;
            this.ctx = ctx;
            this.dma = dma;
            this.vq = new VirtQueue(index, dma);
            this.guestKick = new EventNotifier(name + "-vq" + index + "-ioeventfd");
            this.irq = new Interrupt(name + "-vq" + index);
        }

        /** The ioeventfd handler ({@code virtio_blk_handle_vq}). */
        void handle() {
            if (broken || !running) {
                return;
            }
            lockBql();
            DeferCall.begin(); // blk_io_plug: what the submissions defer runs once, after the batch
            try {
                do {
                    vq.setNotification(false);
                    while (!broken) {
                        Request r = free.isEmpty() ? new Request(this) : free.pollFirst();
                        boolean popped;
                        try {
                            popped = vq.pop(r.elem);
                        } catch (VirtioError e) {
                            free.addFirst(r);
                            throw e;
                        }
                        if (!popped) {
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

        // Every entry from the loop catches the VirtioError of a ring that stopped being RAM.

        @Override
        public boolean poll() {
            try {
                return !broken && running && vq.hasWork();
            } catch (VirtioError e) {
                markBroken(e.getMessage());
                return false;
            }
        }

        @Override
        public void pollBegin() {
            try {
                if (!broken && running) {
                    vq.setNotification(false); // no kicks while we spin on the ring
                }
            } catch (VirtioError e) {
                markBroken(e.getMessage());
            }
        }

        @Override
        public void pollEnd() {
            try {
                if (!broken && running) {
                    vq.setNotification(true);
                }
            } catch (VirtioError e) {
                markBroken(e.getMessage());
            }
        }

        private void raiseIfWanted() {
            try {
                if (!broken && vq.shouldNotify()) {
                    irq.raise();
                }
            } catch (VirtioError e) {
                markBroken(e.getMessage());
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
        /** Data bytes a successful request reports written: what an IN read, what GET_ID copied. */
        private long dataBytes;
        /** Writable data bytes the device or the backend may have written, success or not: all dirty. */
        private long exposed;
        /** An OUT that must be flushed before it completes (FLUSH not negotiated); cleared once the flush is sent. */
        private boolean writethrough;

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
            exposed = 0;
            writethrough = false;
            iov.clear();
            switch (type) {
                case VirtioBlkSpec.T_IN -> {
                    if (!rangeOk(sector, inData)) {
                        finish(VirtioBlkSpec.S_IOERR, 0);
                        return;
                    }
                    dataBytes = inData;
                    exposed = inData; // a failing read may still have written some of it
                    elem.addTo(iov, true, 0, inData);
                    read(sector << VirtioBlkSpec.SECTOR_SHIFT, iov, this);
                }
                case VirtioBlkSpec.T_OUT -> {
                    if (config.readOnly() || !rangeOk(sector, outData)) {
                        finish(VirtioBlkSpec.S_IOERR, 0);
                        return;
                    }
                    elem.addTo(iov, false, VirtioBlkSpec.HEADER_SIZE, outData);
                    writethrough = !Vring.has(features, VirtioBlkSpec.F_FLUSH);
                    write(sector << VirtioBlkSpec.SECTOR_SHIFT, iov, this);
                }
                case VirtioBlkSpec.T_FLUSH -> flush(this);
                case VirtioBlkSpec.T_GET_ID -> {
                    int n = (int) Math.min(VirtioBlkSpec.ID_BYTES, inData);
                    elem.copyIn(0, serialId, n);
                    exposed = n;
                    finish(VirtioBlkSpec.S_OK, n);
                    return;
                }
                case VirtioBlkSpec.T_DISCARD, VirtioBlkSpec.T_WRITE_ZEROES -> {
                    if (config.readOnly()) {
                        finish(VirtioBlkSpec.S_IOERR, 0);
                        return;
                    }
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
            if (outData != VirtioBlkSpec.SEGMENT_SIZE) { // more than max_*_seg (1) segments: unsupported; a short one: an error
                finish(outData > VirtioBlkSpec.SEGMENT_SIZE ? VirtioBlkSpec.S_UNSUPP : VirtioBlkSpec.S_IOERR, 0);
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
            if (sectors > maxRangeSectors() || !rangeOk(sector, bytes)) { // past max_discard/write_zeroes_sectors: IOERR, as QEMU
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
                if (writethrough && s == BlockStatus.OK && !broken) {
                    // blk_set_enable_write_cache(false): the same request, now a flush of the node
                    writethrough = false;
                    flush(this);
                    node.queue(q.index).submit(this);
                    return;
                }
                int vs = s == BlockStatus.OK ? VirtioBlkSpec.S_OK
                        : s == BlockStatus.ENOTSUP ? VirtioBlkSpec.S_UNSUPP : VirtioBlkSpec.S_IOERR;
                finish(vs, vs == VirtioBlkSpec.S_OK ? dataBytes : 0);
            } finally {
                unlockBql();
            }
        }

        /**
         * Writes the status byte (the last writable byte), pushes with a used length of {@code
         * written} data bytes plus the status, marking dirty what may have been written and the
         * status byte, and raises (or defers) the interrupt.
         */
        private void finish(int status, long written) {
            if (broken) {
                q.vq.detach(elem); // a broken device touches the rings no more; the driver resets them
                q.finished(this);
                return;
            }
            statusByte.put(0, (byte) status);
            elem.copyIn(elem.inBytes() - 1, statusByte, 1);
            try {
                q.vq.push(elem, written + 1, exposed, 1);
            } catch (VirtioError e) {
                q.finished(this);
                markBroken(e.getMessage());
                return;
            }
            q.finished(this);
            if (config.deferCall()) {
                DeferCall.defer(q.irqDecision);
            } else {
                q.irqDecision.run();
            }
        }
    }
}
