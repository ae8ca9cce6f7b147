package org.mqblock.vhost;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.mqblock.memory.AddressSpace;
import org.mqblock.memory.RamRegion;
import org.mqblock.nativeio.Fds;
import org.mqblock.nativeio.Mapping;
import org.mqblock.nativeio.MemFd;
import org.mqblock.nativeio.NativeException;

/**
 * The front-end's guest RAM as this process maps it: the regions of one {@code SET_MEM_TABLE},
 * each a memfd (or any mappable file) mapped shared and made a {@link RamRegion#shared shared
 * RamRegion} at its guest-physical address, and the front-end's virtual addresses of the same
 * bytes, through which {@code SET_VRING_ADDR} names the rings.
 *
 * <p>{@link #map} validates the whole table before it maps anything, and refuses, naming the
 * region at fault: no regions or more than {@link VhostUser#MAX_REGIONS}, a payload not of their
 * size, a fd count that differs from the region count, a size, address or mmap offset that is
 * not page-aligned or overflows, regions that overlap (guest-physical or front-end virtual), a
 * region whose mmap offset plus size exceeds its file (touching such a page would raise SIGBUS
 * and kill the process) or a fd that is not a file. What it refuses leaves nothing mapped and
 * every fd closed.
 *
 * <p>Lifetime: {@link #install} maps the regions into the device's address space; {@link
 * #uninstall} removes them and closes them. A closed {@link RamRegion} waits for the accesses under
 * way and releases its memory only when its last {@link org.mqblock.memory.DmaMapping} ends, so
 * the munmap and the fd's close (the release action) never happen under an IOThread that still
 * uses the memory; the release may run on that IOThread, when its request completes.
 *
 * <p>Context: the connection thread, except the release actions (any thread). Immutable once
 * mapped; not threadsafe for install and uninstall.
 */
final class VhostUserMemoryTable {

    /** One region: where the guest and the front-end see it, and our mapping of it. */
    record Region(long gpa, long size, long qva, long mmapOffset, RamRegion ram) {
        long gpaEnd() {
            return gpa + size;
        }

        long qvaEnd() {
            return qva + size;
        }

        @Override
        public String toString() {
            return "region gpa 0x" + Long.toHexString(gpa) + "+0x" + Long.toHexString(size) + " (front-end address 0x"
                    + Long.toHexString(qva) + ", mmap offset 0x" + Long.toHexString(mmapOffset) + ")";
        }
    }

    private static final long PAGE = Mapping.pageSize();

    private final List<Region> regions;

    private VhostUserMemoryTable(List<Region> regions) {
        this.regions = List.copyOf(regions);
    }

    /**
     * Validates the table in {@code m} (a {@code SET_MEM_TABLE}) and maps its regions, taking
     * their fds. Nothing is installed yet.
     *
     * @param name prefix of the regions' names
     * @param log where the release of a region that fails to unmap is reported
     * @throws VhostUserException naming what is wrong; then nothing stays mapped, and the fds
     *     not taken stay with the message, which closes them
     */
    static VhostUserMemoryTable map(VhostUserMessage m, String name, Consumer<String> log) {
        int n = m.u32(VhostUser.MEM_NREGIONS);
        if (n < 1 || n > VhostUser.MAX_REGIONS) {
            throw new VhostUserException("SET_MEM_TABLE: " + Integer.toUnsignedString(n) + " regions; 1 to "
                    + VhostUser.MAX_REGIONS + " are accepted");
        }
        m.requireExactSize(VhostUser.memTableSize(n));
        if (m.fdCount() != n) {
            throw new VhostUserException("SET_MEM_TABLE: " + n + " regions came with " + m.fdCount()
                    + " fds; each region needs exactly one");
        }
        long[][] geometry = new long[n][];
        for (int i = 0; i < n; i++) {
            int at = VhostUser.MEM_REGIONS + VhostUser.REGION_BYTES * i;
            long gpa = m.u64(at + VhostUser.REGION_GPA);
            long size = m.u64(at + VhostUser.REGION_SIZE);
            long qva = m.u64(at + VhostUser.REGION_UADDR);
            long off = m.u64(at + VhostUser.REGION_MMAP_OFFSET);
            String what = "SET_MEM_TABLE: region " + i + " (gpa 0x" + Long.toHexString(gpa) + ", size 0x"
                    + Long.toHexString(size) + ", front-end address 0x" + Long.toHexString(qva) + ", mmap offset 0x"
                    + Long.toHexString(off) + ")";
            if (size <= 0 || size % PAGE != 0) {
                throw new VhostUserException(what + ": the size must be a positive multiple of the " + PAGE + "-byte page");
            }
            if (gpa < 0 || gpa % PAGE != 0 || gpa > Long.MAX_VALUE - size) {
                throw new VhostUserException(what + ": the guest address must be page-aligned and end below 2^63");
            }
            if (off < 0 || off % PAGE != 0 || off > Long.MAX_VALUE - size) {
                throw new VhostUserException(what + ": the mmap offset must be page-aligned and end below 2^63");
            }
            if (Long.compareUnsigned(qva, -size) >= 0) {
                throw new VhostUserException(what + ": the front-end address range wraps past 2^64");
            }
            boolean pinned = sealAgainstShrinking(m.fd(i)); // before the size check, so the size stays checked
            long fileSize = fileSize(m.fd(i), what);
            if (!pinned) {
                log.accept("vhost-user: " + what + ": its file cannot be sealed against shrinking (not a memfd made"
                        + " with MFD_ALLOW_SEALING); a front-end that truncates it under the mapping crashes this"
                        + " process with SIGBUS, as it would qemu-storage-daemon");
            }
            if (off + size > fileSize) {
                throw new VhostUserException(what + ": mmap offset plus size is 0x" + Long.toHexString(off + size)
                        + ", past the end of its file (0x" + Long.toHexString(fileSize) + " bytes)");
            }
            for (int j = 0; j < i; j++) {
                long[] g = geometry[j];
                if (gpa < g[0] + g[1] && g[0] < gpa + size) {
                    throw new VhostUserException(what + ": overlaps region " + j + " in guest-physical addresses");
                }
                if (Long.compareUnsigned(qva, g[2] + g[1]) < 0 && Long.compareUnsigned(g[2], qva + size) < 0) {
                    throw new VhostUserException(what + ": overlaps region " + j + " in front-end addresses");
                }
            }
            geometry[i] = new long[] {gpa, size, qva, off};
        }
        List<Region> mapped = new ArrayList<>(n);
        try {
            for (int i = 0; i < n; i++) {
                long[] g = geometry[i];
                Mapping map;
                try {
                    map = Mapping.map(m.fd(i), g[3], g[1]);
                } catch (NativeException e) {
                    throw new VhostUserException("SET_MEM_TABLE: region " + i + ": " + e.getMessage(), e);
                }
                int fd = m.fd(i);
                RamRegion ram;
                try {
                    ram = RamRegion.shared(name + "-mem" + i, map.address(), g[1],
                            (o, len) -> map.segment().asSlice(o, len).asByteBuffer(), () -> release(map, fd, log));
                } catch (RuntimeException e) {
                    map.close();
                    throw new VhostUserException("SET_MEM_TABLE: region " + i + ": " + e.getMessage(), e);
                }
                m.takeFd(i); // the region's release closes it from now on
                mapped.add(new Region(g[0], g[1], g[2], g[3], ram));
            }
        } catch (RuntimeException | Error e) {
            for (Region r : mapped) {
                r.ram.close(); // never installed nor used: releases now
            }
            throw e;
        }
        return new VhostUserMemoryTable(mapped);
    }

    /**
     * Makes sure the front-end can no longer shrink the file under our mapping, which would make
     * any access to the lost pages raise SIGBUS and take down every session of this process: adds
     * F_SEAL_SHRINK unless the file has it (QEMU's memfd backend seals on its own). False where the
     * file cannot be sealed (a regular file, hugetlbfs, a memfd made without sealing).
     */
    static boolean sealAgainstShrinking(int fd) {
        try {
            if ((MemFd.seals(fd) & MemFd.F_SEAL_SHRINK) == 0) {
                MemFd.addSeals(fd, MemFd.F_SEAL_SHRINK);
            }
            return true;
        } catch (NativeException e) {
            return false;
        }
    }

    /** The file's size, through /proc (a memfd is a regular file there); refuses what is not a file. */
    private static long fileSize(int fd, String what) {
        Path p = Path.of("/proc/self/fd/" + fd);
        try {
            if (!Files.isRegularFile(p)) {
                throw new VhostUserException(what + ": its fd is not a memfd or a regular file");
            }
            return Files.size(p);
        } catch (IOException e) {
            throw new VhostUserException(what + ": cannot stat its fd: " + e.getMessage(), e);
        }
    }

    /** A region's release action: unmap, then close the fd. Runs once, on the thread that dropped the last use. */
    private static void release(Mapping map, int fd, Consumer<String> log) {
        try {
            map.close();
        } catch (RuntimeException e) {
            log.accept("vhost-user: releasing guest RAM " + map + ": " + e.getMessage());
        } finally {
            Fds.closeQuietly(fd);
        }
    }

    /** Maps every region into {@code as}; on failure, unmaps those it mapped. Context: connection thread. */
    void install(AddressSpace as) {
        List<Region> done = new ArrayList<>();
        try {
            for (Region r : regions) {
                as.map(r.gpa, r.ram);
                done.add(r);
            }
        } catch (RuntimeException e) {
            for (Region r : done) {
                as.unmap(r.ram);
            }
            throw new VhostUserException("SET_MEM_TABLE: " + e.getMessage(), e);
        }
    }

    /**
     * Unmaps every region from {@code as} (if installed there) and closes them: each releases its
     * memory once no access and no DMA mapping uses it. Context: connection thread.
     */
    void uninstall(AddressSpace as) {
        for (Region r : regions) {
            if (as != null && as.baseOf(r.ram) >= 0) {
                as.unmap(r.ram);
            }
            r.ram.close();
        }
    }

    /**
     * The guest-physical address of the {@code len} bytes the front-end sees at {@code qva}
     * ({@code qva_to_va} in libvhost-user, but to a guest address: the device reads rings through
     * the address space, as it reads the buffers the descriptors name).
     *
     * @throws VhostUserException if no single region holds all of them
     */
    long toGpa(long qva, long len, String what) {
        for (Region r : regions) {
            if (Long.compareUnsigned(qva, r.qva) >= 0 && Long.compareUnsigned(qva - r.qva, r.size) < 0
                    && Long.compareUnsigned(len, r.size - (qva - r.qva)) <= 0) {
                return r.gpa + (qva - r.qva);
            }
        }
        throw new VhostUserException(what + " at front-end address 0x" + Long.toHexString(qva) + "+0x"
                + Long.toHexString(len) + " is not inside one region of the memory table " + regions);
    }

    List<Region> regions() {
        return regions;
    }

    @Override
    public String toString() {
        return "VhostUserMemoryTable" + regions;
    }
}
