package org.mqblock.experiments.job;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.mqblock.core.loop.IOThread;
import org.mqblock.virtio.GuestBlkDriver;
import org.mqblock.virtio.GuestBlkDriver.Slot;
import org.mqblock.virtio.VirtioBlkRig;

/** The in-JVM virtio-blk device: the rig's guest driver, one vCPU per job. */
final class GuestModelTarget implements JobTarget {

    private final VirtioBlkRig rig;

    GuestModelTarget(VirtioBlkRig rig) {
        this.rig = rig;
    }

    @Override
    public JobQueue queue(int job) {
        return new VcpuQueue(rig.vcpu(job));
    }

    @Override
    public long kicks() {
        return rig.kicks();
    }

    @Override
    public long interrupts() {
        return rig.interrupts();
    }

    @Override
    public List<JobResult.ThreadPlacement> deviceThreads() {
        List<JobResult.ThreadPlacement> placements = new ArrayList<>();
        for (IOThread t : rig.iothreads()) {
            IOThread.Info i = t.info();
            placements.add(new JobResult.ThreadPlacement(i.id(), "iothread",
                    i.cpuRequested() == IOThread.UNPINNED ? "none" : i.cpuRequested() == IOThread.ANY_CPU ? "any"
                            : String.valueOf(i.cpuRequested()), i.cpuBound(), i.bound()));
        }
        return placements;
    }

    @Override
    public long backendPid() {
        return 0;
    }

    @Override
    public boolean broken() {
        return rig.device().isBroken();
    }

    @Override
    public VirtioBlkRig rig() {
        return rig;
    }

    @Override
    public String threadRole() {
        return "vcpu";
    }

    @Override
    public void close() {
        rig.close();
    }

    /**
     * A vCPU of the guest model as a JobQueue: its submit publishes (and kicks) at once, as the
     * model always did, so {@link #publish()} has nothing left to do.
     */
    private static final class VcpuQueue implements JobQueue {
        private final GuestBlkDriver.Vcpu vcpu;
        /** Slots by id, filled as they are first taken (the vCPU thread only). */
        private final Slot[] slots = new Slot[JobSpec.MAX_IODEPTH];
        private final Consumer<Slot> onComplete = this::completed;
        /** The completion await hands to, set for its duration. The job's thread only (plain). */
        private Completion sink;

        VcpuQueue(GuestBlkDriver.Vcpu vcpu) {
            this.vcpu = vcpu;
        }

        @Override
        public void bind() {
            vcpu.bind();
        }

        @Override
        public void unbind() {
            vcpu.unbind();
        }

        @Override
        public int inFlight() {
            return vcpu.inFlight();
        }

        @Override
        public int takeSlot() {
            Slot s = vcpu.freeSlot();
            if (s == null) {
                return -1;
            }
            slots[s.id()] = s;
            return s.id();
        }

        @Override
        public void writeData(int slot, byte[] src, int len) {
            vcpu.dma().write(slots[slot].dataAddress(), src, 0, len);
        }

        @Override
        public void readData(int slot, byte[] dst, int len) {
            vcpu.dma().read(slots[slot].dataAddress(), dst, 0, len);
        }

        @Override
        public void add(int slot, int type, long offset, int length) {
            vcpu.submit(slots[slot], type, offset, length);
        }

        @Override
        public boolean publishesOnAdd() {
            return true;
        }

        @Override
        public void publish() {
            // submit published already
        }

        @Override
        public void await(Completion c) {
            sink = c;
            try {
                vcpu.awaitCompletions(onComplete);
            } finally {
                sink = null;
            }
        }

        private void completed(Slot s) {
            sink.complete(s.id(), s.status());
        }

        @Override
        public String describe() {
            return vcpu.toString();
        }
    }
}
