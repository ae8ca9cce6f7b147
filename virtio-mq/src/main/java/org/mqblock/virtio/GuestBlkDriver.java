package org.mqblock.virtio;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import org.HdrHistogram.Histogram;
import org.mqblock.memory.Dma;

/**
 * The guest side of a virtio-blk device: what Linux's virtio_blk driver does, reduced to what
 * the experiments need. It negotiates features, lays out one {@link GuestVirtqueue} per
 * virtqueue it uses in guest RAM, and gives each vCPU thread a {@link Vcpu} with request slots
 * (header, data buffer and status byte, all in guest RAM).
 *
 * <p>Like Linux's multiqueue driver, each vCPU submits to its own virtqueue when there are as many
 * as vCPUs; with fewer (the single-queue modes) vCPUs share a virtqueue under its lock, and the
 * one that reaps it completes the others' requests too and wakes their owners. A vCPU kicks only
 * when the device asks for it (NO_NOTIFY or EVENT_IDX), and waits for completions either on the
 * queue's interrupt, re-armed after each reap, or by polling the used ring with interrupts off.
 *
 * <p>A kick is an ioeventfd write: it takes no lock (KVM completes the exit in the kernel without
 * the BQL); the global-mutex baseline takes its mutex in the device's handling instead. Each
 * virtqueue's interrupt targets one vCPU (the first vCPU mapped to it, {@link Interrupt#target}):
 * that vCPU reaps the queue and completes the requests of vCPUs sharing it, which only wait for
 * their own. A halted vCPU halt-polls ({@link HaltPoll}) before it sleeps, and each request costs
 * its vCPU {@link VcpuModel#requestCostNs()} of busy work.
 *
 * <p>A device that breaks sets DEVICE_NEEDS_RESET and sends a configuration change notification;
 * every vCPU listens for it, and one waiting for completions then fails its outstanding requests
 * with {@link #S_NEEDS_RESET} instead of waiting for ever, and refuses new ones.
 */
public final class GuestBlkDriver {

    /**
     * The status of a request the driver failed because the device needs reset: not a device
     * status (those are 0 to 2), so a caller can tell it apart.
     */
    public static final int S_NEEDS_RESET = -1;

    private final VirtioBlk device;
    private final VcpuModel model;
    private final boolean polling;
    private final Side[] sides;

    /** One virtqueue as the guest sees it, shared by the vCPUs mapped to it. */
    private final class Side {
        final int index;
        final GuestVirtqueue ring;
        final Dma dma;
        final ReentrantLock lock = new ReentrantLock();
        final Interrupt irq;
        /** Which slot each in-flight chain head belongs to; under {@link #lock}. */
        final Slot[] slotOfHead;
        final GuestVirtqueue.UsedSink complete = this::complete;

        Side(int index, GuestVirtqueue ring, Dma dma) {
            this.index = index;
            this.ring = ring;
            this.dma = dma;
            this.irq = device.interrupt(index);
            this.slotOfHead = new Slot[ring.size()];
        }

        private void complete(int head, int written) {
            Slot s = slotOfHead[head];
            slotOfHead[head] = null;
            s.statusValue = dma.readU8(s.status);
            s.done = true; // volatile: the status before the owner sees it done
            Thread owner = s.owner.thread;
            if (owner != null && owner != Thread.currentThread()) {
                LockSupport.unpark(owner); // completed on a shared queue by another vCPU: wake the owner
            }
        }
    }

    /**
     * Sets up the device for {@code queues} virtqueues of {@code queueSize} (negotiating
     * EVENT_IDX and INDIRECT_DESC as asked) and starts it. Context: the main loop.
     *
     * @param polling vCPUs poll the used ring instead of waiting for interrupts
     * @param model halt-polling and the guest cost of each request
     */
    public GuestBlkDriver(VirtioBlk device, GuestMemory mem, int queueSize, boolean eventIdx, boolean indirect,
                          boolean polling, VcpuModel model) {
        this.device = device;
        this.model = model;
        this.polling = polling;
        long want = device.offeredFeatures();
        if (!eventIdx) {
            want &= ~(1L << Vring.F_EVENT_IDX);
        }
        if (!indirect) {
            want &= ~(1L << Vring.F_INDIRECT_DESC);
        }
        device.negotiate(want);
        int maxChain = 3; // header, data, status: the model's buffers are contiguous
        sides = new Side[device.numQueues()];
        for (int i = 0; i < sides.length; i++) {
            Dma dma = Dma.forCpu(mem.addressSpace());
            GuestVirtqueue ring = new GuestVirtqueue(mem, dma, queueSize, eventIdx, indirect, maxChain);
            device.setupQueue(i, queueSize, ring.descAddr(), ring.availAddr(), ring.usedAddr());
            sides[i] = new Side(i, ring, dma);
        }
        if (polling) {
            for (Side side : sides) {
                side.ring.disableInterrupts();
            }
        }
        device.driverOk();
    }

    public VirtioBlk device() {
        return device;
    }

    /** The driver side of virtqueue {@code i} (a test plays a malicious vCPU through it). */
    GuestVirtqueue ring(int i) {
        return sides[i].ring;
    }

    /** Whether the device said it needs reset (the status register, after a configuration change). */
    private boolean deviceNeedsReset() {
        return (device.deviceStatus() & Vring.STATUS_DEVICE_NEEDS_RESET) != 0;
    }

    /** Kicks the guest made on virtqueue {@code i}. */
    public long kicks(int i) {
        Side s = sides[i];
        s.lock.lock();
        try {
            return s.ring.kicks();
        } finally {
            s.lock.unlock();
        }
    }

    /**
     * A vCPU bound to virtqueue {@code vcpu mod numQueues}, with {@code slots} request slots of up
     * to {@code maxBytes} each allocated in guest RAM. Context: the main loop, during setup.
     */
    public Vcpu newVcpu(int vcpu, GuestMemory mem, int slots, int maxBytes) {
        return new Vcpu(vcpu, sides[vcpu % sides.length], mem, slots, maxBytes);
    }

    /** A request slot: header, data and status in guest RAM, and its state. */
    public static final class Slot {
        final int id;
        final long header;
        final long data;
        final long status;
        final int maxBytes;
        final Vcpu owner;
        // The owning vCPU writes these before submitting; read back by it after completion.
        int type;
        long offset;
        int length;
        long startNs;
        boolean inFlight;
        /** Written by whichever vCPU reaps (under the queue lock), read by the owner (volatile done). */
        int statusValue;
        volatile boolean done;
        /** The owner's own use (a block number, a generation). */
        public long tag;

        Slot(Vcpu owner, int id, long header, long data, long status, int maxBytes) {
            this.owner = owner;
            this.id = id;
            this.header = header;
            this.data = data;
            this.status = status;
            this.maxBytes = maxBytes;
        }

        public int id() {
            return id;
        }

        public int type() {
            return type;
        }

        public long offset() {
            return offset;
        }

        public int length() {
            return length;
        }

        /** The device's status byte: OK, IOERR or UNSUPP; or {@link #S_NEEDS_RESET} if the driver failed it. */
        public int status() {
            return statusValue;
        }

        public boolean inFlight() {
            return inFlight;
        }

        /** Guest address of the data buffer. */
        public long dataAddress() {
            return data;
        }
    }

    /**
     * One vCPU thread's driver state: its slots, its queue, its latency histogram. Not
     * threadsafe: used by its vCPU thread only.
     */
    public final class Vcpu {
        private final int id;
        private final Side side;
        private final Dma dma;
        private final Slot[] slots;
        private final List<Slot> free = new ArrayList<>();
        private final long[] addrs = new long[3];
        private final int[] lens = new int[3];
        private final boolean[] writable = new boolean[3];
        private final ByteBuffer header = ByteBuffer.allocate(VirtioBlkSpec.HEADER_SIZE).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        private final Histogram latencyNs = new Histogram(java.util.concurrent.TimeUnit.SECONDS.toNanos(10), 3);
        private final HaltPoll haltPoll = new HaltPoll(model.haltPollNs());
        private int inFlight;
        private long completed;
        /** Halts, and those that went to sleep: the vCPU thread alone writes them (volatile), tests read them. */
        private volatile long halts;
        private volatile long sleeps;
        /** The vCPU thread, once bound; read by other vCPUs that complete its requests (volatile). */
        private volatile Thread thread;

        Vcpu(int id, Side side, GuestMemory mem, int nslots, int maxBytes) {
            this.id = id;
            this.side = side;
            this.dma = Dma.forCpu(mem.addressSpace());
            this.slots = new Slot[nslots];
            for (int i = 0; i < nslots; i++) {
                long h = mem.allocate(VirtioBlkSpec.HEADER_SIZE, 16);
                long d = mem.allocate(Math.max(maxBytes, 1), 4096);
                long s = mem.allocate(1, 1);
                slots[i] = new Slot(this, i, h, d, s, maxBytes);
                free.add(slots[i]);
            }
        }

        /**
         * Makes the calling thread this vCPU: the target of its queue's interrupt if it is the
         * first vCPU mapped to the queue, else a standby. Call from it, before it waits.
         */
        public void bind() {
            thread = Thread.currentThread();
            side.irq.target(id == side.index);
            device.configInterrupt().listen();
        }

        /** The calling vCPU leaves; a standby takes its queue's interrupt. Its requests must be done. */
        public void unbind() {
            side.irq.untarget();
            device.configInterrupt().unlisten();
            thread = null;
        }

        /** Whether this vCPU takes its queue's interrupt now (and so reaps the queue). */
        public boolean takesInterrupt() {
            Thread t = thread;
            return t != null && side.irq.targetThread() == t;
        }

        /** Times this vCPU halted waiting for a completion. */
        public long halts() {
            return halts;
        }

        /** Halts that outlasted the halt-poll window and slept. */
        public long sleeps() {
            return sleeps;
        }

        public int queue() {
            return side.index;
        }

        /** The vCPU's Dma, to fill or check a slot's data buffer in guest RAM. */
        public Dma dma() {
            return dma;
        }

        /** A free slot, or null when all are in flight. */
        public Slot freeSlot() {
            return free.isEmpty() ? null : free.remove(free.size() - 1);
        }

        public int inFlight() {
            return inFlight;
        }

        public long completed() {
            return completed;
        }

        public Histogram latencyNs() {
            return latencyNs;
        }

        /**
         * Submits {@code type} ({@link VirtioBlkSpec} T_IN, T_OUT, T_FLUSH, T_GET_ID) on slot {@code
         * s} for {@code length} bytes at byte {@code offset}: builds the chain, publishes it, and
         * kicks if the device asks for it: an ioeventfd write, no lock. The request's guest cost
         * is spent first.
         */
        public void submit(Slot s, int type, long offset, int length) {
            if (length > s.maxBytes || length < 0) {
                throw new IllegalArgumentException("slot holds " + s.maxBytes + " bytes, asked for " + length);
            }
            if (deviceNeedsReset()) {
                throw new IllegalStateException("virtio-blk " + device.name() + " needs reset (" + device.brokenReason()
                        + "); the driver submits nothing more");
            }
            model.spendRequestCost();
            s.type = type;
            s.offset = offset;
            s.length = length;
            s.done = false;
            s.inFlight = true;
            header.putInt(VirtioBlkSpec.HEADER_TYPE, type);
            header.putInt(VirtioBlkSpec.HEADER_IOPRIO, 0);
            header.putLong(VirtioBlkSpec.HEADER_SECTOR, offset >> VirtioBlkSpec.SECTOR_SHIFT);
            dma.write(s.header, header, 0, VirtioBlkSpec.HEADER_SIZE);
            dma.writeU8(s.status, 0xff); // the device must overwrite it
            int n = 0;
            addrs[n] = s.header;
            lens[n] = VirtioBlkSpec.HEADER_SIZE;
            writable[n++] = false;
            if (length > 0 && type != VirtioBlkSpec.T_FLUSH) {
                addrs[n] = s.data;
                lens[n] = length;
                writable[n++] = type == VirtioBlkSpec.T_IN || type == VirtioBlkSpec.T_GET_ID;
            }
            addrs[n] = s.status;
            lens[n] = 1;
            writable[n++] = true;
            boolean kick;
            side.lock.lock();
            try {
                int head = side.ring.add(addrs, lens, writable, n);
                side.slotOfHead[head] = s;
                kick = side.ring.publish();
            } finally {
                side.lock.unlock();
            }
            inFlight++;
            s.startNs = System.nanoTime();
            if (kick) {
                device.kick(side.index); // ioeventfd: the exit ends in the kernel, no global lock
            }
        }

        /**
         * Hands every completed slot of this vCPU to {@code sink} (and makes it free again). The
         * vCPU that takes the queue's interrupt (or any, when polling) reaps the used ring first,
         * completing other vCPUs' requests on a shared queue too; the others only collect theirs.
         */
        public int reap(Consumer<Slot> sink) {
            if (polling || takesInterrupt() || thread == null) {
                side.lock.lock();
                try {
                    side.ring.reap(side.complete);
                } finally {
                    side.lock.unlock();
                }
            }
            int n = 0;
            for (Slot s : slots) {
                if (s.inFlight && s.done) {
                    s.inFlight = false;
                    inFlight--;
                    completed++;
                    long latency = System.nanoTime() - s.startNs;
                    latencyNs.recordValue(Math.max(0, Math.min(latency, latencyNs.getHighestTrackableValue())));
                    free.add(s);
                    n++;
                    sink.accept(s);
                }
            }
            return n;
        }

        /**
         * Waits until at least one of this vCPU's requests completed, then reaps: spinning on the
         * used ring when polling, else halting: the vCPU that takes the queue's interrupt re-arms it
         * after each reap (with EVENT_IDX that moves {@code used_event}) and halts until it is
         * raised; one that shares the queue halts until the interrupt's vCPU completed one of its
         * requests. A halt halt-polls first ({@link HaltPoll}), then sleeps.
         */
        public int awaitCompletions(Consumer<Slot> sink) {
            Interrupt config = device.configInterrupt();
            while (true) {
                int n = reap(sink);
                if (n > 0 || inFlight == 0) {
                    return n;
                }
                long configSeen = config.count(); // before the status: a break after this read wakes us below
                if (deviceNeedsReset()) {
                    return failOutstanding(sink);
                }
                if (polling) {
                    Thread.onSpinWait();
                    continue;
                }
                if (thread != Thread.currentThread()) {
                    throw new IllegalStateException(this + " waits in thread '" + Thread.currentThread().getName()
                            + "' but is bound to " + thread + ": call bind() from the vCPU thread first");
                }
                boolean target = takesInterrupt();
                long seen = side.irq.count();
                if (!target || armInterrupt()) {
                    halt(target, seen, configSeen);
                }
            }
        }

        /**
         * KVM's {@code kvm_vcpu_halt}: spins for a wakeup up to the halt-poll window, then sleeps
         * until one; a raise, a completion by another vCPU or a hand-over of the target after the
         * caller's checks leaves a permit, so none is missed.
         */
        private void halt(boolean target, long seen, long configSeen) {
            halts++;
            long start = System.nanoTime();
            long window = haltPoll.windowNs();
            boolean woken = wakeup(target, seen, configSeen);
            while (!woken && System.nanoTime() - start < window) {
                Thread.onSpinWait();
                woken = wakeup(target, seen, configSeen);
            }
            if (!woken) {
                sleeps++;
            }
            while (!woken) {
                LockSupport.park(this);
                woken = wakeup(target, seen, configSeen);
            }
            haltPoll.afterHalt(System.nanoTime() - start);
        }

        /** What ends a halt: the queue's interrupt (its target), the configuration interrupt, a request of ours done, or the target moving. */
        private boolean wakeup(boolean target, long seen, long configSeen) {
            return target && side.irq.count() != seen || device.configInterrupt().count() != configSeen || anyDone()
                    || takesInterrupt() != target;
        }

        /** Fails every request still in flight with {@link #S_NEEDS_RESET}: the device will not complete them. */
        private int failOutstanding(Consumer<Slot> sink) {
            int n = 0;
            for (Slot s : slots) {
                if (s.inFlight) {
                    if (!s.done) { // one the device did complete (reaped by another vCPU just now) keeps its status
                        s.statusValue = S_NEEDS_RESET;
                    }
                    s.inFlight = false;
                    inFlight--;
                    free.add(s);
                    n++;
                    sink.accept(s);
                }
            }
            return n;
        }

        /**
         * Asks for an interrupt at the next used chain of this vCPU's queue ({@code
         * virtqueue_enable_cb}); returns false if used chains are already waiting to be reaped.
         */
        public boolean armInterrupt() {
            side.lock.lock();
            try {
                return side.ring.enableInterrupts();
            } finally {
                side.lock.unlock();
            }
        }

        private boolean anyDone() {
            for (Slot s : slots) {
                if (s.inFlight && s.done) {
                    return true;
                }
            }
            return false;
        }

        @Override
        public String toString() {
            return "Vcpu[" + id + " on vq " + side.index + ", " + inFlight + " in flight]";
        }
    }
}
