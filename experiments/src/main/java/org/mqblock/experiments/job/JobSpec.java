package org.mqblock.experiments.job;

import java.util.LinkedHashMap;
import java.util.Map;
import org.mqblock.core.loop.PollWindow;
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
 */
public record JobSpec(Rw rw, int bs, int iodepth, int numjobs, long runtimeMs, long rampMs, long size,
                      Mode mode, int queues, int iothreads, Backend backend, String backendOpts, String filename,
                      boolean deferCall, long pollMaxNs, boolean pin, boolean verify, boolean eventIdx,
                      boolean guestPoll, long seed) {

    public static final int MAX_BS = 1 << 20;

    public JobSpec {
        require(bs >= 512 && bs <= MAX_BS && bs % 512 == 0, "--bs", bs + " (a multiple of 512 from 512 to 1m)");
        require(iodepth >= 1 && iodepth <= 1024, "--iodepth", iodepth + " (1..1024)");
        require(numjobs >= 1 && numjobs <= 256, "--numjobs", numjobs + " (1..256)");
        require(runtimeMs > 0, "--runtime", runtimeMs + " ms (must be > 0)");
        require(rampMs >= 0, "--ramp-time", rampMs + " ms (must be >= 0)");
        require(size >= (long) bs * numjobs, "--size", size + " bytes (at least bs x numjobs)");
        require(queues >= 0 && queues <= 1024, "--queues", queues + " (0 for one per vCPU, up to 1024)");
        require(iothreads >= 0 && iothreads <= 256, "--iothreads", iothreads + " (0 for automatic, up to 256)");
        require(pollMaxNs >= 0, "--poll-max-ns", pollMaxNs + " (must be >= 0)");
    }

    private static void require(boolean ok, String option, String got) {
        if (!ok) {
            throw new IllegalArgumentException(option + ": invalid value " + got);
        }
    }

    /** The job the README's main command and the figures start from. */
    public static JobSpec defaults() {
        return new JobSpec(Rw.RANDREAD, 4096, 32, 1, 5_000, 1_000, 256L << 20, Mode.MQ, 0, 0,
                Backend.MEMORY, "", "", true, PollWindow.DEFAULT_MAX_NS, true, false, true, false, 1);
    }

    /** Virtqueues the device gets. */
    public int virtqueues() {
        return mode == Mode.MQ ? (queues > 0 ? queues : numjobs) : 1;
    }

    /** IOThreads the device gets: one per virtqueue, at most one per CPU, unless told. */
    public int iothreadCount() {
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
        return m;
    }

    public JobSpec withRw(Rw r) {
        return new JobSpec(r, bs, iodepth, numjobs, runtimeMs, rampMs, size, mode, queues, iothreads, backend,
                backendOpts, filename, deferCall, pollMaxNs, pin, verify, eventIdx, guestPoll, seed);
    }

    public JobSpec withIodepth(int d) {
        return new JobSpec(rw, bs, d, numjobs, runtimeMs, rampMs, size, mode, queues, iothreads, backend,
                backendOpts, filename, deferCall, pollMaxNs, pin, verify, eventIdx, guestPoll, seed);
    }

    public JobSpec withNumjobs(int n) {
        return new JobSpec(rw, bs, iodepth, n, runtimeMs, rampMs, size, mode, queues, iothreads, backend,
                backendOpts, filename, deferCall, pollMaxNs, pin, verify, eventIdx, guestPoll, seed);
    }

    public JobSpec withTimes(long runMs, long rampMsNew) {
        return new JobSpec(rw, bs, iodepth, numjobs, runMs, rampMsNew, size, mode, queues, iothreads, backend,
                backendOpts, filename, deferCall, pollMaxNs, pin, verify, eventIdx, guestPoll, seed);
    }

    public JobSpec withMode(Mode m) {
        return new JobSpec(rw, bs, iodepth, numjobs, runtimeMs, rampMs, size, m, queues, iothreads, backend,
                backendOpts, filename, deferCall, pollMaxNs, pin, verify, eventIdx, guestPoll, seed);
    }

    public JobSpec withQueues(int q, int threads) {
        return new JobSpec(rw, bs, iodepth, numjobs, runtimeMs, rampMs, size, mode, q, threads, backend,
                backendOpts, filename, deferCall, pollMaxNs, pin, verify, eventIdx, guestPoll, seed);
    }

    public JobSpec withBackend(Backend b, String opts) {
        return new JobSpec(rw, bs, iodepth, numjobs, runtimeMs, rampMs, size, mode, queues, iothreads, b,
                opts, filename, deferCall, pollMaxNs, pin, verify, eventIdx, guestPoll, seed);
    }

    public JobSpec withFilename(String f) {
        return new JobSpec(rw, bs, iodepth, numjobs, runtimeMs, rampMs, size, mode, queues, iothreads, backend,
                backendOpts, f, deferCall, pollMaxNs, pin, verify, eventIdx, guestPoll, seed);
    }

    public JobSpec withSize(long s) {
        return new JobSpec(rw, bs, iodepth, numjobs, runtimeMs, rampMs, s, mode, queues, iothreads, backend,
                backendOpts, filename, deferCall, pollMaxNs, pin, verify, eventIdx, guestPoll, seed);
    }

    public JobSpec withDeferCall(boolean on) {
        return new JobSpec(rw, bs, iodepth, numjobs, runtimeMs, rampMs, size, mode, queues, iothreads, backend,
                backendOpts, filename, on, pollMaxNs, pin, verify, eventIdx, guestPoll, seed);
    }

    public JobSpec withPollMaxNs(long ns) {
        return new JobSpec(rw, bs, iodepth, numjobs, runtimeMs, rampMs, size, mode, queues, iothreads, backend,
                backendOpts, filename, deferCall, ns, pin, verify, eventIdx, guestPoll, seed);
    }

    public JobSpec withPin(boolean on) {
        return new JobSpec(rw, bs, iodepth, numjobs, runtimeMs, rampMs, size, mode, queues, iothreads, backend,
                backendOpts, filename, deferCall, pollMaxNs, on, verify, eventIdx, guestPoll, seed);
    }

    public JobSpec withVerify(boolean on) {
        return new JobSpec(rw, bs, iodepth, numjobs, runtimeMs, rampMs, size, mode, queues, iothreads, backend,
                backendOpts, filename, deferCall, pollMaxNs, pin, on, eventIdx, guestPoll, seed);
    }

    public JobSpec withBs(int b) {
        return new JobSpec(rw, b, iodepth, numjobs, runtimeMs, rampMs, size, mode, queues, iothreads, backend,
                backendOpts, filename, deferCall, pollMaxNs, pin, verify, eventIdx, guestPoll, seed);
    }
    public JobSpec withEventIdx(boolean on) {
        return new JobSpec(rw, bs, iodepth, numjobs, runtimeMs, rampMs, size, mode, queues, iothreads, backend,
                backendOpts, filename, deferCall, pollMaxNs, pin, verify, on, guestPoll, seed);
    }

    public JobSpec withGuestPoll(boolean on) {
        return new JobSpec(rw, bs, iodepth, numjobs, runtimeMs, rampMs, size, mode, queues, iothreads, backend,
                backendOpts, filename, deferCall, pollMaxNs, pin, verify, eventIdx, on, seed);
    }
}
