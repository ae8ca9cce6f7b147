package org.mqblock.memory;

import java.util.Objects;
import org.mqblock.core.loop.AioContext;

/**
 * Device registers in the address space ({@code memory_region_init_io}): accesses call {@link
 * MmioOps} while holding the owner {@link AioContext}, the context the device's emulation runs
 * in. A {@link Dma} from another context reaches the handlers by the {@link DispatchPolicy} it was
 * given; the device's {@link ReentrancyGuard} (when it has one) refuses accesses that would
 * re-enter it on the same dispatch chain.
 */
public final class MmioRegion extends MemoryRegion {

    private final AioContext owner;
    private final ReentrancyGuard guard;
    private final MmioOps ops;

    /**
     * Context: any thread; map it with {@link AddressSpace#map}.
     *
     * @param owner the context whose thread runs the device, held while the handlers run
     * @param guard the device's re-entrancy guard, or null for a region that opts out ({@code
     *     disable_reentrancy_guard})
     */
    public MmioRegion(String name, long size, AioContext owner, ReentrancyGuard guard, MmioOps ops) {
        super(name, size);
        this.owner = Objects.requireNonNull(owner, "owner");
        this.guard = guard;
        this.ops = Objects.requireNonNull(ops, "ops");
    }

    public AioContext owner() {
        return owner;
    }

    /** The device's guard, or null. */
    public ReentrancyGuard guard() {
        return guard;
    }

    MmioOps ops() {
        return ops;
    }

    @Override
    public String toString() {
        return "MmioRegion[" + name() + ", " + Hex.of(size()) + " bytes, owner " + owner.name()
                + (guard != null ? ", device " + guard.device() : "") + "]";
    }
}
