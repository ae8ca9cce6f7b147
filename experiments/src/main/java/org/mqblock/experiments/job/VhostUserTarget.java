package org.mqblock.experiments.job;

import java.util.List;
import org.mqblock.vhost.FrontendQueue;
import org.mqblock.vhost.VhostUserFrontend;
import org.mqblock.virtio.VirtioBlkRig;

/**
 * A vhost-user-blk backend in another process ({@code --target vhost-user:PATH}): the front-end
 * connected to it with one virtqueue per job, iodepth slots of bs bytes each.
 */
final class VhostUserTarget implements JobTarget {

    /** How long a queue waits for a completion before the job fails (a backend that stopped). */
    static final long COMPLETION_TIMEOUT_MS = 30_000;

    private final VhostUserFrontend frontend;

    private VhostUserTarget(VhostUserFrontend frontend) {
        this.frontend = frontend;
    }

    /**
     * Connects with the job's shape: numjobs queues (the backend must have that many), EVENT_IDX and
     * polling as the job says.
     */
    static VhostUserTarget open(JobSpec spec) {
        VhostUserFrontend.Options o = VhostUserFrontend.Options.builder().queues(spec.numjobs()).slots(spec.iodepth())
                .maxBytes(spec.bs()).eventIdx(spec.eventIdx()).polling(spec.guestPoll())
                .completionTimeoutMs(COMPLETION_TIMEOUT_MS).build();
        return new VhostUserTarget(VhostUserFrontend.connect(spec.vhostUserSocket(), o));
    }

    VhostUserFrontend frontend() {
        return frontend;
    }

    @Override
    public JobQueue queue(int job) {
        return new Queue(frontend.queue(job));
    }

    @Override
    public long kicks() {
        long n = 0;
        for (int i = 0; i < frontend.queueCount(); i++) {
            n += frontend.queue(i).kicks();
        }
        return n;
    }

    @Override
    public long interrupts() {
        long n = 0;
        for (int i = 0; i < frontend.queueCount(); i++) {
            n += frontend.queue(i).calls();
        }
        return n;
    }

    @Override
    public List<JobResult.ThreadPlacement> deviceThreads() {
        return List.of();
    }

    @Override
    public long backendPid() {
        return frontend.backendPid();
    }

    @Override
    public boolean broken() {
        return false;
    }

    @Override
    public VirtioBlkRig rig() {
        return null;
    }

    @Override
    public String threadRole() {
        return "submitter";
    }

    @Override
    public void close() {
        frontend.close();
    }

    private static final class Queue implements JobQueue {
        private final FrontendQueue q;
        private final FrontendQueue.Completion onComplete = this::completed;
        /** The completion await hands to, set for its duration. The job's thread only (plain). */
        private Completion sink;

        Queue(FrontendQueue q) {
            this.q = q;
        }

        @Override
        public void bind() {}

        @Override
        public void unbind() {}

        @Override
        public int inFlight() {
            return q.inFlight();
        }

        @Override
        public int takeSlot() {
            return q.takeSlot();
        }

        @Override
        public void writeData(int slot, byte[] src, int len) {
            q.dma().write(q.dataAddress(slot), src, 0, len);
        }

        @Override
        public void readData(int slot, byte[] dst, int len) {
            q.dma().read(q.dataAddress(slot), dst, 0, len);
        }

        @Override
        public void add(int slot, int type, long offset, int length) {
            q.add(slot, type, offset, length);
        }

        @Override
        public boolean publishesOnAdd() {
            return false;
        }

        @Override
        public void publish() {
            q.publish();
        }

        @Override
        public void await(Completion c) {
            sink = c;
            try {
                q.await(onComplete);
            } finally {
                sink = null;
            }
        }

        private void completed(int slot, int status) {
            sink.complete(slot, status);
        }

        @Override
        public String describe() {
            return q.toString();
        }
    }
}
