package org.mqblock.nativeio;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A shared, read-write mapping of a file ({@code mmap(NULL, length, PROT_READ|PROT_WRITE,
 * MAP_SHARED, fd, offset)}): what one process writes through it, every other mapping of the same
 * pages sees, in this process or another.
 *
 * <p>The {@link #segment()} belongs to a shared {@link Arena} that {@link #close()} closes before
 * it unmaps, so a segment used after close fails with the JDK's {@code IllegalStateException}
 * ("Already closed") instead of touching unmapped memory, and {@link #segment()} itself refuses,
 * naming the mapping. Threadsafe; close is idempotent.
 */
public final class Mapping implements AutoCloseable {

    private static final int PROT_READ = 0x1;
    private static final int PROT_WRITE = 0x2;
    private static final int MAP_SHARED = 0x01;
    private static final int SC_PAGESIZE = 30;
    private static final long PAGE_SIZE = Libc.sysconf(SC_PAGESIZE);

    private final int fd;
    private final long offset;
    private final long address;
    private final long length;
    private final Arena arena;
    private final MemorySegment segment;
    /** Written by the closing thread under `this`; read by any thread (volatile). */
    private volatile boolean unmapped;

    @SuppressWarnings("restricted")
    private Mapping(int fd, long offset, long address, long length) {
        this.fd = fd;
        this.offset = offset;
        this.address = address;
        this.length = length;
        this.arena = Arena.ofShared();
        this.segment = MemorySegment.ofAddress(address).reinterpret(length, arena, null);
    }

    /**
     * Maps {@code length} bytes of {@code fd} from {@code offset}, shared and read-write. The fd
     * may be closed afterwards; the mapping stays. Context: any thread.
     *
     * @param offset a multiple of the page size ({@link #pageSize()})
     * @param length more than 0; the file must be at least {@code offset + length} long for every
     *        byte to be usable (touching pages past its end raises SIGBUS, which kills the JVM)
     */
    public static Mapping map(int fd, long offset, long length) {
        if (length <= 0) {
            throw new IllegalArgumentException("mmap of fd " + fd + ": length must be > 0, got " + length);
        }
        if (offset < 0 || offset % PAGE_SIZE != 0) {
            throw new IllegalArgumentException("mmap of fd " + fd + ": offset " + offset
                    + " is not a non-negative multiple of the page size " + PAGE_SIZE);
        }
        Libc.Scratch s = Libc.scratch();
        MemorySegment p = Libc.mmap(s.state, MemorySegment.NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
        if (p.address() == -1L) { // MAP_FAILED
            throw new NativeException("mmap", "fd " + fd + ", offset " + offset + ", length " + length,
                    Libc.errno(s.state));
        }
        return new Mapping(fd, offset, p.address(), length);
    }

    /** The system's page size in bytes. Context: any thread. */
    public static long pageSize() {
        return PAGE_SIZE;
    }

    /**
     * The mapped bytes. Context: any thread.
     *
     * @throws IllegalStateException once {@link #close()} unmapped them
     */
    public MemorySegment segment() {
        checkMapped();
        return segment;
    }

    /** Where the mapping starts in this process (for a vhost-user memory table). Context: any thread. */
    public long address() {
        checkMapped();
        return address;
    }

    /** Its length in bytes. Context: any thread. */
    public long length() {
        return length;
    }

    /** The file offset it maps from. Context: any thread. */
    public long offset() {
        return offset;
    }

    /** Whether it is still mapped. Context: any thread. */
    public boolean isMapped() {
        return !unmapped;
    }

    private void checkMapped() {
        if (unmapped) {
            throw new IllegalStateException(this + " was unmapped (closed); map the fd again to use it");
        }
    }

    /**
     * Unmaps, after invalidating {@link #segment()} for every thread; later calls do nothing.
     * Context: any thread.
     *
     * @throws IllegalStateException if another thread is using the segment in a way that keeps
     *         its arena open (the mapping then stays, and close may be called again)
     */
    @Override
    public synchronized void close() {
        if (unmapped) {
            return;
        }
        arena.close(); // throws, leaving everything mapped, if the segment is in use
        unmapped = true;
        Libc.Scratch s = Libc.scratch();
        if (Libc.munmap(s.state, MemorySegment.ofAddress(address), length) < 0) {
            throw new NativeException("munmap", "0x" + Long.toHexString(address) + ", length " + length,
                    Libc.errno(s.state));
        }
    }

    @Override
    public String toString() {
        return "Mapping[fd " + fd + ", offset " + offset + ", " + length + " bytes at 0x" + Long.toHexString(address) + "]";
    }
}
