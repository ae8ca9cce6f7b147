package org.mqblock.memory;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A guest-physical address space ({@code AddressSpace} in QEMU's exec/memory.h): {@link RamRegion}s
 * and {@link MmioRegion}s mapped at base addresses, never overlapping, and a {@link WriteGate}
 * through which every {@link Dma} write to its RAM passes.
 *
 * <h2>Lookup</h2>
 * The regions live in an immutable {@link FlatView} sorted by base; {@link #map} and {@link
 * #unmap} (rare, main loop) build a new view and publish it with a volatile store, so lookups take
 * one volatile load and a binary search, with no lock (QEMU publishes its FlatView with RCU for
 * the same reason). Each {@link Dma} keeps its own last-hit index, checked before the search.
 * Addresses are non-negative {@code long}s; a region ends at or below {@code Long.MAX_VALUE}.
 *
 * <h2>Errors</h2>
 * An access that starts outside every region, or starts in one and ends beyond it, fails with a
 * {@link MemoryAccessException} naming the access, the region and its range, e.g. {@code access
 * 0x1ffc+8 crosses the end of region 'ram0' [0x0, 0x2000)}. QEMU splits a DMA that spans adjacent
 * regions; here one access targets one region, so that a failing access has had no effect, and a
 * device that spans regions issues one access per region (as it does per scatter-gather element).
 */
public final class AddressSpace {

    /** A region and where it is mapped. */
    public record Mapping(long base, MemoryRegion region) {
        public long end() {
            return base + region.size();
        }
    }

    private final String name;
    private final WriteGate writeGate;

    /** Replaced under this object's monitor by map/unmap (volatile store of an immutable view); read by any thread. */
    private volatile FlatView view = FlatView.EMPTY;

    /** An empty address space. Context: any thread. */
    public AddressSpace(String name) {
        this.name = Objects.requireNonNull(name, "name");
        this.writeGate = new WriteGate(name);
    }

    public String name() {
        return name;
    }

    /** The barrier every RAM write through a {@link Dma} on this address space passes. Context: any thread. */
    public WriteGate writeGate() {
        return writeGate;
    }

    FlatView view() {
        return view;
    }

    /**
     * Maps {@code region} at {@code base} ({@code memory_region_add_subregion}). RAM must be
     * page-aligned. Context: the main loop (any thread; map and unmap are serialized).
     *
     * @throws IllegalArgumentException naming the region it would overlap, or if misaligned,
     *     already mapped here, or beyond {@code Long.MAX_VALUE}
     */
    public synchronized void map(long base, MemoryRegion region) {
        Objects.requireNonNull(region, "region");
        if (base < 0 || base > Long.MAX_VALUE - region.size()) {
            throw new IllegalArgumentException("address space '" + name + "': region '" + region.name()
                    + "' at " + Hex.of(base) + " of size " + Hex.of(region.size()) + " does not fit below 2^63");
        }
        if (region instanceof RamRegion && !TargetPage.isAligned(base)) {
            throw new IllegalArgumentException("address space '" + name + "': RAM region '" + region.name()
                    + "' base " + Hex.of(base) + " is not page-aligned");
        }
        FlatView v = view;
        if (v.indexOf(region) >= 0) {
            throw new IllegalArgumentException("address space '" + name + "': region '" + region.name()
                    + "' is already mapped at " + Hex.of(v.starts[v.indexOf(region)]));
        }
        long end = base + region.size();
        for (int i = 0; i < v.count; i++) {
            if (base < v.ends[i] && v.starts[i] < end) {
                throw new IllegalArgumentException("address space '" + name + "': region '" + region.name()
                        + "' " + Hex.range(base, end) + " overlaps " + v.describe(i));
            }
        }
        if (region instanceof RamRegion ram) {
            ram.mappedInChanged(+1); // refuses a closed region
        }
        view = v.with(base, region);
    }

    /**
     * Removes {@code region} ({@code memory_region_del_subregion}). Accesses that looked it up
     * before may still be running; {@link WriteGate#synchronize()} waits for the writes among
     * them. Context: the main loop.
     */
    public synchronized void unmap(MemoryRegion region) {
        FlatView v = view;
        int i = v.indexOf(region);
        if (i < 0) {
            throw new IllegalArgumentException("address space '" + name + "': region '" + region.name()
                    + "' is not mapped");
        }
        view = v.without(i);
        if (region instanceof RamRegion ram) {
            ram.mappedInChanged(-1);
        }
    }

    /** The region containing {@code addr}, or null. Context: any thread. */
    public MemoryRegion regionAt(long addr) {
        FlatView v = view;
        int i = v.find(addr);
        return i < 0 ? null : v.regions[i];
    }

    /** Where {@code region} is mapped, or -1. Context: any thread. */
    public long baseOf(MemoryRegion region) {
        FlatView v = view;
        int i = v.indexOf(region);
        return i < 0 ? -1 : v.starts[i];
    }

    /** The mapped regions in address order. Context: any thread. */
    public List<Mapping> mappings() {
        FlatView v = view;
        List<Mapping> out = new ArrayList<>(v.count);
        for (int i = 0; i < v.count; i++) {
            out.add(new Mapping(v.starts[i], v.regions[i]));
        }
        return out;
    }

    // ---------------------------------------------------------------------------------------
    // Translation (address_space_translate) and its errors

    /**
     * The index in {@code v} of the region holding all of {@code [addr, addr + size)}, trying
     * {@code hint} first.
     *
     * @throws MemoryAccessException UNMAPPED or CROSSES_REGION
     */
    int translate(FlatView v, long addr, long size, int hint) {
        int i = v.contains(hint, addr) ? hint : v.find(addr);
        if (i < 0) {
            throw unmapped(v, addr, size);
        }
        if (size > v.ends[i] - addr) {
            throw new MemoryAccessException(MemoryAccessException.Kind.CROSSES_REGION,
                    "address space '" + name + "': access " + Hex.access(addr, size)
                            + " crosses the end of region " + v.describe(i));
        }
        return i;
    }

    private MemoryAccessException unmapped(FlatView v, long addr, long size) {
        StringBuilder sb = new StringBuilder("address space '").append(name).append("': ")
                .append(Hex.of(addr)).append(" is not mapped (access ").append(Hex.access(addr, size));
        int below = -1;
        for (int i = 0; i < v.count && v.starts[i] <= addr; i++) {
            below = i;
        }
        if (below >= 0) {
            sb.append("; below it: ").append(v.describe(below));
        }
        if (below + 1 < v.count) {
            sb.append("; above it: ").append(v.describe(below + 1));
        }
        if (v.count == 0) {
            sb.append("; nothing is mapped");
        }
        return new MemoryAccessException(MemoryAccessException.Kind.UNMAPPED, sb.append(')').toString());
    }

    @Override
    public String toString() {
        return "AddressSpace[" + name + ", " + view.count + " regions]";
    }
}
