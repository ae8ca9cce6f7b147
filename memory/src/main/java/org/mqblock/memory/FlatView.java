package org.mqblock.memory;

/**
 * An immutable snapshot of an address space's regions, sorted by base ({@code FlatView} in QEMU's
 * memory.c, without overlap resolution: regions here never overlap). Lookups binary-search the
 * bases; an {@link AddressSpace} replaces its view wholesale when a region is mapped or
 * unmapped, so readers need no lock.
 */
final class FlatView {

    static final FlatView EMPTY = new FlatView(new long[0], new long[0], new MemoryRegion[0]);

    final long[] starts;
    final long[] ends; // exclusive
    final MemoryRegion[] regions;
    final int count;

    FlatView(long[] starts, long[] ends, MemoryRegion[] regions) {
        this.starts = starts;
        this.ends = ends;
        this.regions = regions;
        this.count = regions.length;
    }

    /** Index of the region containing {@code addr}, or -1. */
    int find(long addr) {
        int lo = 0;
        int hi = count - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (starts[mid] <= addr) {
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        return hi >= 0 && addr < ends[hi] ? hi : -1; // hi: the last region starting at or below addr
    }

    /** Whether region {@code i} contains {@code addr} (a cached index may be out of date). */
    boolean contains(int i, long addr) {
        return i < count && addr >= starts[i] && addr < ends[i];
    }

    int indexOf(MemoryRegion r) {
        for (int i = 0; i < count; i++) {
            if (regions[i] == r) {
                return i;
            }
        }
        return -1;
    }

    FlatView with(long base, MemoryRegion r) {
        int at = 0;
        while (at < count && starts[at] < base) {
            at++;
        }
        long[] s = new long[count + 1];
        long[] e = new long[count + 1];
        MemoryRegion[] m = new MemoryRegion[count + 1];
        System.arraycopy(starts, 0, s, 0, at);
        System.arraycopy(ends, 0, e, 0, at);
        System.arraycopy(regions, 0, m, 0, at);
        s[at] = base;
        e[at] = base + r.size();
        m[at] = r;
        System.arraycopy(starts, at, s, at + 1, count - at);
        System.arraycopy(ends, at, e, at + 1, count - at);
        System.arraycopy(regions, at, m, at + 1, count - at);
        return new FlatView(s, e, m);
    }

    FlatView without(int i) {
        long[] s = new long[count - 1];
        long[] e = new long[count - 1];
        MemoryRegion[] m = new MemoryRegion[count - 1];
        System.arraycopy(starts, 0, s, 0, i);
        System.arraycopy(ends, 0, e, 0, i);
        System.arraycopy(regions, 0, m, 0, i);
        System.arraycopy(starts, i + 1, s, i, count - i - 1);
        System.arraycopy(ends, i + 1, e, i, count - i - 1);
        System.arraycopy(regions, i + 1, m, i, count - i - 1);
        return new FlatView(s, e, m);
    }

    String describe(int i) {
        return "'" + regions[i].name() + "' " + Hex.range(starts[i], ends[i]);
    }
}
