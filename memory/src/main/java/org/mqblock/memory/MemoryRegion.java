package org.mqblock.memory;

import java.util.Objects;

/**
 * A piece of guest-physical address space ({@code MemoryRegion} in QEMU's exec/memory.h): RAM
 * backed by host memory, or MMIO handled by a device. Regions are mapped into an {@link
 * AddressSpace} at a base address; a region knows only its own offsets {@code [0, size)}.
 */
public abstract sealed class MemoryRegion permits RamRegion, MmioRegion {

    private final String name;
    private final long size;

    MemoryRegion(String name, long size) {
        this.name = Objects.requireNonNull(name, "name");
        if (size <= 0) {
            throw new IllegalArgumentException("region '" + name + "' needs a positive size, got " + size);
        }
        this.size = size;
    }

    public final String name() {
        return name;
    }

    /** Size in bytes. */
    public final long size() {
        return size;
    }

    /**
     * Checks that {@code [offset, offset + len)} lies in the region. Written so that nothing
     * overflows for any {@code offset} and {@code len >= 0}.
     */
    final void checkAccess(long offset, long len) {
        if (offset < 0 || len < 0 || offset > size || len > size - offset) {
            throw new MemoryAccessException(MemoryAccessException.Kind.CROSSES_REGION,
                    "access at offset " + Hex.access(offset, len) + " is outside region '" + name
                            + "' of size " + Hex.of(size));
        }
    }
}
