package org.mqblock.experiments.job;

import java.util.LinkedHashMap;
import java.util.Map;
import org.mqblock.core.loop.PollWindow;
import org.mqblock.virtio.VcpuModel;
import org.mqblock.virtio.VirtioBlkRig.Mode;

/**
 * One {@code mqb run} job: fio's options where fio has them, plus the block layer's shape.
 *
 * @param numjobs vCPU threads, each keeping {@code iodepth} requests in flight
 * @param queues virtqueues in mq mode (0: one per vCPU, like Linux's virtio_blk)
 * @param iothreads IOThreads in mq mode (0: one per virtqueue, at most one per CPU)
 * @param backendOpts extra driver keys, e.g. {@code latency-us=50,parallelism=8}
 * @param filename the image of the file and thin backends (empty: a temporary file)
 * @param guestPoll vCPUs poll the used ring instead of sleeping on interrupts
 * @param seed seed of the random offsets (each vCPU derives its own)
 * @param target where the I/O goes: empty for the in-JVM virtio-blk device (guest model, rig,
 *     backend), or {@code vhost-user:PATH} for a vhost-user-blk backend in another process on that
 *     socket, driven by the front-end with one virtqueue per job ({@code mode}, {@code queues},
 *     {@code iothreads}, {@code backend*}, {@code filename}, {@code deferCall} and {@code pollMaxNs}
 *     belong to the in-JVM device and do not apply; {@code size} 0 means the backend's capacity)
 * @param haltPollNs the guest model's KVM halt_poll_ns (0: vCPUs sleep at once)
 * @param guestCostNs the guest model's busy work per request in its vCPU
 */
public record JobSpec(Rw rw, int bs, int iodepth, int numjobs, long runtimeMs, long rampMs, long size,
                      Mode mode, int queues, int iothreads, Backend backend, String backendOpts, String filename,
                      boolean deferCall, long pollMaxNs, boolean pin, boolean verify, boolean eventIdx,
                      boolean guestPoll, long seed, String target, long haltPollNs, long guestCostNs) {

    public static final int MAX_BS = 1 << 20;
    public static final int MAX_IODEPTH = 1024;
    /** The prefix of a vhost-user-blk target. */
    public static final String VHOST_USER = "vhost-user:";

    public JobSpec {
        require(bs >= 512 && bs <= MAX_BS && bs % 512 == 0, "--bs", bs + " (a multiple of 512 from 512 to 1m)");
        require(iodepth >= 1 && iodepth <= MAX_IODEPTH, "--iodepth", iodepth + " (1.." + MAX_IODEPTH + ")");
        require(numjobs >= 1 && numjobs <= 256, "--numjobs", numjobs + " (1..256)");
        require(runtimeMs > 0, "--runtime", runtimeMs + " ms (must be > 0)");
        require(rampMs >= 0, "--ramp-time", rampMs + " ms (must be >= 0)");
        require(target != null && (target.isEmpty() || target.startsWith(VHOST_USER) && target.length() > VHOST_USER.length()),
                "--target", target + " (vhost-user:SOCKET_PATH, or nothing for the in-JVM device)");
        require(size >= (long) bs * numjobs || size == 0 && !target.isEmpty(), "--size",
                size + " bytes (at least bs x numjobs" + (target.isEmpty() ? ")" : "; 0 for the backend's capacity)"));
        require(queues >= 0 && queues <= 1024, "--queues", queues + " (0 for one per vCPU, up to 1024)");
        require(iothreads >= 0 && iothreads <= 256, "--iothreads", iothreads + " (0 for automatic, up to 256)");
        require(pollMaxNs >= 0, "--poll-max-ns", pollMaxNs + " (must be >= 0)");
        require(haltPollNs >= 0, "--halt-poll-ns", haltPollNs + " (must be >= 0; 0 turns halt-polling off)");
        require(guestCostNs >= 0 && guestCostNs <= 1_000_000_000L, "--guest-cost-ns", guestCostNs + " (0 to 1000000000)");
    }

    private static void require(boolean ok, String option, String got) {
        if (!ok) {
            throw new IllegalArgumentException(option + ": invalid value " + got);
        }
    }

    /** The job the README's main command and the figures start from. */
    public static JobSpec defaults() {
        return new JobSpec(Rw.RANDREAD, 4096, 32, 1, 5_000, 1_000, 256L << 20, Mode.MQ, 0, 0,
                Backend.MEMORY, "", "", true, PollWindow.DEFAULT_MAX_NS, true, false, true, false, 1, "",
                VcpuModel.DEFAULT.haltPollNs(), VcpuModel.DEFAULT.requestCostNs());
    }

    /** Whether the job drives a vhost-user-blk backend in another process. */
    public boolean isVhostUser() {
        return !target.isEmpty();
    }

    /** The vhost-user socket's path ({@link #isVhostUser()} only). */
    public java.nio.file.Path vhostUserSocket() {
        return java.nio.file.Path.of(target.substring(VHOST_USER.length()));
    }

    /** Virtqueues the device gets. */
    public int virtqueues() {
        if (isVhostUser()) {
            return numjobs;
        }
        return mode == Mode.MQ ? (queues > 0 ? queues : numjobs) : 1;
    }

    /** IOThreads the device gets: one per virtqueue, at most one per CPU, unless told. */
    public int iothreadCount() {
        if (isVhostUser()) {
            return 0; // the backend's, not ours
        }
        if (mode != Mode.MQ) {
            return 1;
        }
        return iothreads > 0 ? iothreads : Math.max(1, Math.min(virtqueues(), Runtime.getRuntime().availableProcessors()));
    }

    /** The option string blockqueue opens the backend from. */
    public String deviceOptions(String imagePath) {
        StringBuilder b = new StringBuilder("driver=").append(backend.label).append(",size=").append(size);
        if (backend.needsFile) {
            b.append(",filename=").append(imagePath);
        }
        if (!backendOpts.isEmpty()) {
            b.append(',').append(backendOpts);
        }
        return b.toString();
    }

    /** fio's "job options" (strings, as fio writes them) plus the block layer's own. */
    public Map<String, String> fioOptions() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("rw", rw.label);
        m.put("bs", String.valueOf(bs));
        m.put("iodepth", String.valueOf(iodepth));
        m.put("numjobs", String.valueOf(numjobs));
        m.put("runtime", String.valueOf(runtimeMs / 1000.0));
        m.put("ramp_time", String.valueOf(rampMs / 1000.0));
        m.put("size", String.valueOf(size));
        if (isVhostUser()) {
            m.put("ioengine", "mqblock-vhost-user");
            m.put("target", target);
            m.put("queues", String.valueOf(virtqueues()));
            m.put("pin", pin ? "on" : "off");
            m.put("verify", verify ? "crc32c" : "0");
            m.put("event_idx", eventIdx ? "on" : "off");
            m.put("guest_poll", guestPoll ? "on" : "off");
            m.put("randseed", String.valueOf(seed));
            return m;
        }
        m.put("ioengine", "mqblock-virtio-blk");
        m.put("mode", mode.label);
        m.put("queues", String.valueOf(virtqueues()));
        m.put("iothreads", String.valueOf(iothreadCount()));
        m.put("backend", backend.label);
        if (!backendOpts.isEmpty()) {
            m.put("backend_opts", backendOpts);
        }
        m.put("defer_call", deferCall ? "on" : "off");
        m.put("poll_max_ns", String.valueOf(pollMaxNs));
        m.put("pin", pin ? "on" : "off");
        m.put("verify", verify ? "crc32c" : "0");
        m.put("event_idx", eventIdx ? "on" : "off");
        m.put("guest_poll", guestPoll ? "on" : "off");
        m.put("randseed", String.valueOf(seed));
        m.put("halt_poll_ns", String.valueOf(haltPollNs));
        m.put("guest_cost_ns", String.valueOf(guestCostNs));
        return m;
    }

    /** The guest model's vCPUs: halt-polling and the cost of each request. */
    public VcpuModel vcpuModel() {
        return new VcpuModel(haltPollNs, guestCostNs);
    }

    public Builder toBuilder() {
        return new Builder(this);
    }

    /** A JobSpec to change a few options of; {@link #build()} validates the whole. */
    public static final class Builder {
        private Rw rw;
        private int bs;
        private int iodepth;
        private int numjobs;
        private long runtimeMs;
        private long rampMs;
        private long size;
        private Mode mode;
        private int queues;
        private int iothreads;
        private Backend backend;
        private String backendOpts;
        private String filename;
        private boolean deferCall;
        private long pollMaxNs;
        private boolean pin;
        private boolean verify;
        private boolean eventIdx;
        private boolean guestPoll;
        private long seed;
        private String target;
        private long haltPollNs;
        private long guestCostNs;

        private Builder(JobSpec s) {
            rw = s.rw;
            bs = s.bs;
            iodepth = s.iodepth;
            numjobs = s.numjobs;
            runtimeMs = s.runtimeMs;
            rampMs = s.rampMs;
            size = s.size;
            mode = s.mode;
            queues = s.queues;
            iothreads = s.iothreads;
            backend = s.backend;
            backendOpts = s.backendOpts;
            filename = s.filename;
            deferCall = s.deferCall;
            pollMaxNs = s.pollMaxNs;
            pin = s.pin;
            verify = s.verify;
            eventIdx = s.eventIdx;
            guestPoll = s.guestPoll;
            seed = s.seed;
            target = s.target;
            haltPollNs = s.haltPollNs;
            guestCostNs = s.guestCostNs;
        }

        public JobSpec build() {
            return new JobSpec(rw, bs, iodepth, numjobs, runtimeMs, rampMs, size, mode, queues, iothreads, backend,
                    backendOpts, filename, deferCall, pollMaxNs, pin, verify, eventIdx, guestPoll, seed, target,
                    haltPollNs, guestCostNs);
        }

        public Builder rw(Rw v) {
            rw = v;
            return this;
        }

        public Builder bs(int v) {
            bs = v;
            return this;
        }

        public Builder iodepth(int v) {
            iodepth = v;
            return this;
        }

        public Builder numjobs(int v) {
            numjobs = v;
            return this;
        }

        public Builder times(long runMs, long rampMillis) {
            runtimeMs = runMs;
            rampMs = rampMillis;
            return this;
        }

        public Builder size(long v) {
            size = v;
            return this;
        }

        public Builder mode(Mode v) {
            mode = v;
            return this;
        }

        public Builder queues(int virtqueues, int threads) {
            queues = virtqueues;
            iothreads = threads;
            return this;
        }

        public Builder backend(Backend v, String opts) {
            backend = v;
            backendOpts = opts;
            return this;
        }

        public Builder filename(String v) {
            filename = v;
            return this;
        }

        public Builder deferCall(boolean v) {
            deferCall = v;
            return this;
        }

        public Builder pollMaxNs(long v) {
            pollMaxNs = v;
            return this;
        }

        public Builder pin(boolean v) {
            pin = v;
            return this;
        }

        public Builder verify(boolean v) {
            verify = v;
            return this;
        }

        public Builder eventIdx(boolean v) {
            eventIdx = v;
            return this;
        }

        public Builder guestPoll(boolean v) {
            guestPoll = v;
            return this;
        }

        public Builder seed(long v) {
            seed = v;
            return this;
        }

        /** {@code ""} for the in-JVM device, or {@code vhost-user:PATH}. */
        public Builder target(String v) {
            target = v;
            return this;
        }

        /** KVM's halt_poll_ns for the guest model's vCPUs (0: off). */
        public Builder haltPollNs(long v) {
            haltPollNs = v;
            return this;
        }

        /** Busy work per request in a vCPU of the guest model. */
        public Builder guestCostNs(long v) {
            guestCostNs = v;
            return this;
        }
    }
}
