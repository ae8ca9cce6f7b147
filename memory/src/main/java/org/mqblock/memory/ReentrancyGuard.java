package org.mqblock.memory;

import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A device's protection against re-entering its own I/O ({@code MemReentrancyGuard}, with {@code
 * aio_bh_new_guarded} and the check in memory.c's {@code access_with_adjusted_size}): while the
 * device's MMIO handler, one of its guarded bottom halves, or one of its DMAs runs, an MMIO
 * dispatch into the device from the same dispatch chain is refused with {@link
 * MemoryAccessException.Kind#REENTRANT}, naming the chain ({@code A -> B -> A}), and counted.
 * That covers a device DMA-ing into its own registers (A -> A) and the round trip through another
 * device (A -> B -> A), which would otherwise run A's handler in the middle of A's own request.
 *
 * <h2>Engaged for whom</h2>
 * QEMU's guard is a flag in the device, which under the big lock means "on the current call
 * stack". With contexts released across a recursive dispatch, a flag would also be seen by other
 * threads: device B's concurrent, unrelated DMA into A while A is waiting in its own DMA would be
 * refused, and two devices exchanging DMAs would fail at random. Here "engaged" keeps QEMU's
 * meaning: the device is on the calling thread's {@link DispatchChain}. The chain travels across
 * the release/acquire hop because the hop keeps the thread: A's DMA runs B's handler on A's
 * thread, so when B's handler DMAs back into A, A is on the chain and the access is refused. A
 * concurrent entry from another thread, while A is released inside its DMA, is allowed: that is
 * the cost of {@link DispatchPolicy#RELEASE_REACQUIRE} that the device must bear.
 */
public final class ReentrancyGuard {

    private final String device;
    /** Refused entries into this device; incremented by refusing threads (atomic), read by any. */
    private final AtomicLong refused = new AtomicLong();

    /** The guard of the device named {@code device} (used in refusal messages). Context: any thread. */
    public ReentrancyGuard(String device) {
        this.device = Objects.requireNonNull(device, "device");
    }

    public String device() {
        return device;
    }

    /** Whether this device's I/O is under way on the calling thread's dispatch chain. Context: any thread. */
    public boolean isEngaged() {
        return DispatchChain.current().contains(this);
    }

    /**
     * Runs {@code body} with the guard engaged: a device's bottom half or timer that processes
     * requests ({@code aio_bh_new_guarded}). Nests. Context: the device's context.
     */
    public void run(Runnable body) {
        DispatchChain chain = DispatchChain.current();
        chain.push(this);
        try {
            body.run();
        } finally {
            chain.pop(this);
        }
    }

    /** {@code body} wrapped in {@link #run}, to pass to {@code newBottomHalf} once. Context: any thread. */
    public Runnable guarded(Runnable body) {
        Objects.requireNonNull(body, "body");
        return () -> run(body);
    }

    /** How many accesses into this device the guard refused. Context: any thread. */
    public long refusedCount() {
        return refused.get();
    }

    void countRefusal() {
        refused.incrementAndGet();
    }

    @Override
    public String toString() {
        return "ReentrancyGuard[" + device + "]";
    }
}
