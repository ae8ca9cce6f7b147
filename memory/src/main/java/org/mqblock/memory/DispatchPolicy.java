package org.mqblock.memory;

import org.mqblock.core.loop.AioContext;

/**
 * How a {@link Dma} issued in one {@link AioContext} reaches an {@link MmioRegion} owned by
 * another (recursive memory dispatch: a disk's DMA landing in a graphics card's BAR, KVM Forum
 * 2014).
 */
public enum DispatchPolicy {

    /**
     * Release the caller's context completely (remembering its recursion depth), acquire the
     * owner's, run the handler, release it, re-acquire the caller's at the same depth.
     *
     * <p><b>Why it cannot deadlock.</b> A deadlock among contexts needs a cycle of threads each
     * holding a context while waiting for another's. Under this policy a thread waits for a
     * context only in {@code acquire()}, and when it does it holds none: a handler runs holding
     * exactly its own context (the loop took it, or the dispatch that called it did), and every
     * dispatch to a foreign context first drops the one it holds, and a nested dispatch from the
     * foreign handler drops that one in turn. With nothing held while waiting there is no edge out
     * of a waiting thread, hence no cycle, however many devices DMA into each other at once. The
     * same holds for a writer parked at a paused {@link WriteGate}, which also releases its
     * context.
     *
     * <p><b>What it costs.</b> While released, the caller's context is free: its other handlers and
     * MMIO dispatches from other threads can run in the middle of the caller's DMA, and the
     * caller's device state may have changed when the DMA returns. A device must therefore be
     * consistent at every DMA it issues (the constraint QEMU's re-entrancy guard exists for;
     * the {@link ReentrancyGuard} here refuses the recursive case, the concurrent one is the
     * device's to handle). Each cross-context access also pays two lock hand-offs and may wait
     * for the owner's thread to finish its current handler.
     */
    RELEASE_REACQUIRE,

    /**
     * Acquire the owner's context while still holding the caller's ({@code aio_context_acquire}
     * nested, the obvious code). Two devices in two IOThreads that DMA into each other's MMIO at
     * the same time each hold their own context and wait for the other's: a deadlock. Kept as the
     * baseline the experiment shows deadlocking. It waits with {@link
     * AioContext#acquireInterruptibly()}, so interrupting a deadlocked thread makes its access
     * fail with {@link MemoryAccessException.Kind#INTERRUPTED} instead of hanging forever.
     */
    NESTED
}
