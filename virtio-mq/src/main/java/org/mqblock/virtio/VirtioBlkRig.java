package org.mqblock.virtio;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.locks.ReentrantLock;
import org.mqblock.block.BlockDrivers;
import org.mqblock.block.BlockOptions;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.IOThread;
import org.mqblock.core.loop.PollWindow;

/**
 * A whole guest disk on this machine, in one of the three configurations the experiments
 * compare: guest RAM, IOThreads, a backend, the virtio-blk device and the guest driver with one
 * {@link GuestBlkDriver.Vcpu} per vCPU.
 *
 * <ul>
 *   <li>{@link Mode#SQ_GLOBAL}: one virtqueue; the device runs in the main loop (one thread, no
 *       polling) and its handlers take a global mutex, where QEMU takes the BQL; kicks are
 *       ioeventfd writes and take no lock: QEMU before dataplane.
 *   <li>{@link Mode#SQ_IOTHREAD}: one virtqueue on one IOThread, no global mutex: dataplane.
 *   <li>{@link Mode#MQ}: N virtqueues (one per vCPU by default) on M IOThreads per a
 *       {@link VqMapping}, one block queue each.
 * </ul>
 *
 * The rig creates threads; vCPU threads are the caller's (each binds its Vcpu). Context: the main
 * loop (the thread that starts and closes it).
 */
public final class VirtioBlkRig implements AutoCloseable {

    public enum Mode {
        SQ_GLOBAL("sq-global"),
        SQ_IOTHREAD("sq-iothread"),
        MQ("mq");

        public final String label;

        Mode(String label) {
            this.label = label;
        }

        public static Mode parse(String s) {
            for (Mode m : values()) {
                if (m.label.equals(s.toLowerCase(Locale.ROOT))) {
                    return m;
                }
            }
            throw new IllegalArgumentException("mode '" + s + "' is not one of sq-global, sq-iothread, mq");
        }

        @Override
        public String toString() {
            return label;
        }
    }

    /**
     * What to build.
     *
     * @param device blockqueue options for the backend (e.g. {@code driver=memory,size=1G})
     * @param queues virtqueues in mq mode (0: one per vCPU)
     * @param iothreads IOThreads in mq mode
     * @param vqMapping {@code round-robin} or {@code io0:0,2;io1:1,3}
     * @param polling vCPUs poll the used ring instead of sleeping on interrupts
     * @param pollMaxNs adaptive polling of the IOThreads (the main loop of sq-global never polls)
     * @param pin pin IOThreads with Chronicle Affinity
     * @param slots request slots per vCPU (its iodepth)
     * @param maxBytes largest request
     * @param vcpuModel the vCPUs' halt-polling and per-request guest cost
     */
    public record Options(Mode mode, String device, int vcpus, int queues, int iothreads, String vqMapping,
                          int queueSize, boolean eventIdx, boolean indirect, boolean deferCall, boolean polling,
                          long pollMaxNs, boolean pin, int slots, int maxBytes, VcpuModel vcpuModel) {

        public Options {
            java.util.Objects.requireNonNull(vcpuModel, "vcpuModel");
        }

        public static Options defaults(Mode mode, String device, int vcpus) {
            return new Options(mode, device, vcpus, 0, Math.max(1, Math.min(vcpus, Runtime.getRuntime().availableProcessors())),
                    "round-robin", 256, true, true, true, false, PollWindow.DEFAULT_MAX_NS, true, 32, 128 * 1024,
                    VcpuModel.DEFAULT);
        }

        public Options withMode(Mode m) {
            return new Options(m, device, vcpus, queues, iothreads, vqMapping, queueSize, eventIdx, indirect, deferCall,
                    polling, pollMaxNs, pin, slots, maxBytes, vcpuModel);
        }

        public Options withDevice(String d) {
            return new Options(mode, d, vcpus, queues, iothreads, vqMapping, queueSize, eventIdx, indirect, deferCall,
                    polling, pollMaxNs, pin, slots, maxBytes, vcpuModel);
        }

        public Options withEventIdx(boolean on) {
            return new Options(mode, device, vcpus, queues, iothreads, vqMapping, queueSize, on, indirect, deferCall,
                    polling, pollMaxNs, pin, slots, maxBytes, vcpuModel);
        }

        public Options withDeferCall(boolean on) {
            return new Options(mode, device, vcpus, queues, iothreads, vqMapping, queueSize, eventIdx, indirect, on,
                    polling, pollMaxNs, pin, slots, maxBytes, vcpuModel);
        }

        public Options withPolling(boolean vcpuPolls, long iothreadPollMaxNs) {
            return new Options(mode, device, vcpus, queues, iothreads, vqMapping, queueSize, eventIdx, indirect, deferCall,
                    vcpuPolls, iothreadPollMaxNs, pin, slots, maxBytes, vcpuModel);
        }

        public Options withSlots(int perVcpu, int bytes) {
            return new Options(mode, device, vcpus, queues, iothreads, vqMapping, queueSize, eventIdx, indirect, deferCall,
                    polling, pollMaxNs, pin, perVcpu, bytes, vcpuModel);
        }

        public Options withQueues(int q, int threads, String mapping) {
            return new Options(mode, device, vcpus, q, threads, mapping, queueSize, eventIdx, indirect, deferCall,
                    polling, pollMaxNs, pin, slots, maxBytes, vcpuModel);
        }

        public Options withVcpuModel(VcpuModel m) {
            return new Options(mode, device, vcpus, queues, iothreads, vqMapping, queueSize, eventIdx, indirect, deferCall,
                    polling, pollMaxNs, pin, slots, maxBytes, m);
        }

        public Options withPin(boolean on) {
            return new Options(mode, device, vcpus, queues, iothreads, vqMapping, queueSize, eventIdx, indirect, deferCall,
                    polling, pollMaxNs, on, slots, maxBytes, vcpuModel);
        }

        /** Virtqueues the mode uses. */
        public int virtqueues() {
            return mode == Mode.MQ ? (queues > 0 ? queues : vcpus) : 1;
        }
    }

    private final Options options;
    private final List<IOThread> iothreads = new ArrayList<>();
    private final GuestMemory memory;
    private final VirtioBlk device;
    private final GuestBlkDriver guest;
    private final List<GuestBlkDriver.Vcpu> vcpus = new ArrayList<>();
    /** sq-global's BQL, taken by the device's handlers on the main loop; null in the other modes. */
    private final ReentrantLock globalMutex;

    private VirtioBlkRig(Options o) {
        this.options = o;
        if (o.vcpus() < 1) {
            throw new IllegalArgumentException("need at least one vCPU, got " + o.vcpus());
        }
        int vqs = o.virtqueues();
        int cpu = o.pin() ? IOThread.ANY_CPU : IOThread.UNPINNED;
        ReentrantLock bql = null;
        switch (o.mode()) {
            case SQ_GLOBAL -> {
                iothreads.add(IOThread.start("main-loop", cpu, 0));
                bql = new ReentrantLock();
            }
            case SQ_IOTHREAD -> iothreads.add(IOThread.start("iothread0", cpu, o.pollMaxNs()));
            case MQ -> {
                if (o.iothreads() < 1) {
                    throw new IllegalArgumentException("mq mode needs at least one IOThread, got " + o.iothreads());
                }
                for (int i = 0; i < o.iothreads(); i++) {
                    iothreads.add(IOThread.start("iothread" + i, cpu, o.pollMaxNs()));
                }
            }
        }
        try {
            List<String> ids = iothreads.stream().map(IOThread::id).toList();
            VqMapping mapping = o.mode() == Mode.MQ ? VqMapping.parse(o.vqMapping(), vqs, ids) : VqMapping.roundRobin(1, 1);
            long ringBytes = (long) vqs * o.queueSize() * (Vring.DESC_SIZE * 4 + 16) + 64 * 1024;
            long slotBytes = (long) o.vcpus() * o.slots() * (align(o.maxBytes(), 4096) + 64);
            long ram = align(ringBytes + slotBytes + (8L << 20), 2L << 20);
            this.memory = GuestMemory.create("guest", ram, 1L << 32);
            BlockDriver driver = openDriver(o.device());
            List<AioContext> ctxs = iothreads.stream().map(IOThread::context).toList();
            this.device = new VirtioBlk("vblk0", driver, memory.addressSpace(),
                    new VirtioBlk.Config(vqs, Math.max(2, o.queueSize()), o.deferCall(), "mqblock-vblk0", false,
                            Math.max(VirtioBlkSpec.SECTOR_SIZE, driver.capabilities().requestAlignment())),
                    mapping, ctxs, bql);
            this.guest = new GuestBlkDriver(device, memory, o.queueSize(), o.eventIdx(), o.indirect(), o.polling(),
                    o.vcpuModel());
            this.globalMutex = bql;
            for (int i = 0; i < o.vcpus(); i++) {
                vcpus.add(guest.newVcpu(i, memory, o.slots(), o.maxBytes()));
            }
        } catch (RuntimeException | Error e) {
            iothreads.forEach(IOThread::stop);
            throw e;
        }
    }

    private static BlockDriver openDriver(String options) {
        BlockOptions o = BlockOptions.parse(options);
        try {
            BlockDriver d = BlockDrivers.open(o);
            java.util.Set<String> accepted = new java.util.HashSet<>(BlockDrivers.KEYS.get(d.format()));
            accepted.add("driver");
            o.checkAllUsed("driver '" + d.format() + "'", accepted);
            return d;
        } catch (IOException e) {
            throw new UncheckedIOException(e.getMessage(), e);
        }
    }

    private static long align(long n, long a) {
        return (n + a - 1) / a * a;
    }

    /** Builds and starts everything. Context: the main loop. */
    public static VirtioBlkRig start(Options o) {
        return new VirtioBlkRig(o);
    }

    public Options options() {
        return options;
    }

    public GuestBlkDriver.Vcpu vcpu(int i) {
        return vcpus.get(i);
    }

    public VirtioBlk device() {
        return device;
    }

    public GuestBlkDriver guest() {
        return guest;
    }

    public GuestMemory memory() {
        return memory;
    }

    /** The global mutex of sq-global (QEMU's BQL), or null. */
    public ReentrantLock globalMutex() {
        return globalMutex;
    }

    public List<IOThread> iothreads() {
        return iothreads;
    }

    /** Interrupts raised over all virtqueues. */
    public long interrupts() {
        long n = 0;
        for (int i = 0; i < device.numQueues(); i++) {
            n += device.interrupt(i).count();
        }
        return n;
    }

    /** Kicks made over all virtqueues. */
    public long kicks() {
        long n = 0;
        for (int i = 0; i < device.numQueues(); i++) {
            n += guest.kicks(i);
        }
        return n;
    }

    /** Stops the device, closes the backend, stops the IOThreads, frees guest RAM. */
    @Override
    public void close() {
        try {
            device.close();
        } finally {
            for (IOThread t : iothreads) {
                t.close();
            }
            memory.close();
        }
    }
}
