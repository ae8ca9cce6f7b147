package org.mqblock.virtio;

/**
 * What a vCPU of the guest model costs and does beside the driver.
 *
 * @param haltPollNs KVM's {@code halt_poll_ns}: the most a halted vCPU spins for a wakeup before it
 *     sleeps ({@link HaltPoll}; 0: off)
 * @param requestCostNs busy work per request in the vCPU before it builds the chain: the guest's
 *     own cost (the application, the block layer, virtio_blk's queue_rq and completion, the VM
 *     exit and interrupt injection a thread here does not pay)
 */
public record VcpuModel(long haltPollNs, long requestCostNs) {

    /**
     * The guest cost by default, in ns; the README's "The guest model" gives the derivation. The
     * real guest ({@code mqb guest}, TCG) spent 131 to 136 us of vCPU time per request, inflated by
     * emulation, so the default starts from the native path instead: fio's 4k random reads through
     * libaio (iodepth 16, page cache) took 2.4 us of CPU (usr + sys) per request on the 2-CPU
     * development VM; 4 us adds an allowance, not measured here, for blk-mq, virtio_blk and the
     * exit and interrupt injection that a page-cache read does not go through.
     */
    public static final long DEFAULT_REQUEST_COST_NS = 4_000;

    public static final VcpuModel DEFAULT = new VcpuModel(HaltPoll.DEFAULT_MAX_NS, DEFAULT_REQUEST_COST_NS);

    /** No halt-polling, no guest cost: the bare driver (the model before issue 15). */
    public static final VcpuModel BARE = new VcpuModel(0, 0);

    public VcpuModel {
        if (haltPollNs < 0) {
            throw new IllegalArgumentException("halt-poll-ns: invalid value " + haltPollNs + " (must be >= 0; 0 turns polling off)");
        }
        if (requestCostNs < 0 || requestCostNs > 1_000_000_000L) {
            throw new IllegalArgumentException("guest-cost: invalid value " + requestCostNs + " ns (0 to 1 s)");
        }
    }

    /**
     * Spins for the request cost on the calling vCPU: busy, as guest code is, allocation-free.
     */
    void spendRequestCost() {
        if (requestCostNs == 0) {
            return;
        }
        long end = System.nanoTime() + requestCostNs;
        while (System.nanoTime() - end < 0) {
            Thread.onSpinWait();
        }
    }
}
