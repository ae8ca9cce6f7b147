package org.mqblock.virtio;

import org.mqblock.memory.AddressSpace;
import org.mqblock.memory.RamRegion;

/**
 * The guest's RAM as the guest driver model sees it: one {@link RamRegion} mapped at a base
 * address, carved up by a bump allocator (rings, request headers, data buffers), as a guest
 * kernel would allocate them once at boot. Not threadsafe: allocate during setup.
 */
public final class GuestMemory implements AutoCloseable {

    private final AddressSpace as;
    private final RamRegion ram;
    private final long base;
    private long next;

    public GuestMemory(AddressSpace as, RamRegion ram, long base) {
        this.as = as;
        this.ram = ram;
        this.base = base;
        this.next = base;
    }

    /** Creates an address space with {@code bytes} of RAM at guest address {@code base}. */
    public static GuestMemory create(String name, long bytes, long base) {
        AddressSpace as = new AddressSpace(name);
        RamRegion ram = new RamRegion(name + "-ram", bytes);
        as.map(base, ram);
        return new GuestMemory(as, ram, base);
    }

    /**
     * {@code size} bytes aligned to {@code align} (a power of two); never freed.
     *
     * @throws IllegalStateException when the RAM is used up
     */
    public long allocate(long size, long align) {
        long at = (next + align - 1) & -align;
        if (at + size > base + ram.size()) {
            throw new IllegalStateException("guest RAM '" + ram.name() + "' of " + ram.size() + " bytes is used up: "
                    + (next - base) + " allocated, " + size + " more asked for");
        }
        next = at + size;
        return at;
    }

    public AddressSpace addressSpace() {
        return as;
    }

    public RamRegion ram() {
        return ram;
    }

    public long base() {
        return base;
    }

    /** Bytes allocated so far. */
    public long used() {
        return next - base;
    }

    /** Unmaps the RAM and frees it; nothing may still use it. */
    @Override
    public void close() {
        as.unmap(ram);
        ram.close();
    }
}
