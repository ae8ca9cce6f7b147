package org.mqblock.nativeio;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.file.Path;

/**
 * A file's allocation, which Java has no API for: where its data and holes lie ({@code
 * lseek(SEEK_DATA / SEEK_HOLE)}) and giving space back ({@code fallocate(PUNCH_HOLE |
 * KEEP_SIZE)}). It holds its own descriptor of the file, opened {@code O_CLOEXEC}; the data itself
 * is read and written elsewhere (a {@code FileChannel}). Neither call moves anything another
 * descriptor sees: lseek sets only this descriptor's offset, which nothing here reads.
 *
 * <p>Threadsafe: each call is one system call on an fd that does not change; {@link #close()} is
 * idempotent, and calling after it is the caller's bug (EBADF, or worse if the number was reused).
 */
public final class FileExtents implements AutoCloseable {

    private static final VarHandle CLOSED;

    static {
        try {
            CLOSED = MethodHandles.lookup().findVarHandle(FileExtents.class, "closed", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final int fd;
    private final String path;
    /** Set once by the closing thread (CAS). */
    @SuppressWarnings("unused")
    private volatile boolean closed;

    private FileExtents(int fd, String path) {
        this.fd = fd;
        this.path = path;
    }

    /**
     * Opens {@code path} for these calls; {@code writable} is needed to punch holes. Context: any
     * thread.
     *
     * @throws NativeException naming the file and the errno if it cannot be opened
     */
    public static FileExtents open(Path path, boolean writable) {
        Libc.Scratch s = Libc.scratch();
        String name = path.toString();
        int flags = (writable ? Libc.O_RDWR : Libc.O_RDONLY) | Libc.O_CLOEXEC;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cpath = arena.allocateFrom(name);
            int fd;
            while ((fd = Libc.open(s.state, cpath, flags, 0)) < 0) {
                int errno = Libc.errno(s.state);
                if (errno != Libc.EINTR) {
                    throw new NativeException("open", "\"" + name + "\", " + (writable ? "O_RDWR" : "O_RDONLY"), errno);
                }
            }
            return new FileExtents(fd, name);
        }
    }

    /**
     * The first offset at or after {@code offset} that holds data ({@code SEEK_DATA}), or -1 when
     * there is none before end-of-file (ENXIO, which is also the answer at or past end-of-file).
     * Context: any thread.
     */
    public long nextData(long offset) {
        return seek(offset, Libc.SEEK_DATA, "SEEK_DATA");
    }

    /**
     * The first offset at or after {@code offset} in a hole ({@code SEEK_HOLE}); end-of-file counts
     * as a hole. -1 at or past end-of-file (ENXIO). Context: any thread.
     */
    public long nextHole(long offset) {
        return seek(offset, Libc.SEEK_HOLE, "SEEK_HOLE");
    }

    private long seek(long offset, int whence, String what) {
        Libc.Scratch s = Libc.scratch();
        long r = Libc.lseek(s.state, fd, offset, whence);
        if (r >= 0) {
            return r;
        }
        int errno = Libc.errno(s.state);
        if (errno == Libc.ENXIO) {
            return -1;
        }
        throw new NativeException("lseek", "fd " + fd + " (" + path + "), " + offset + ", " + what, errno);
    }

    /**
     * Deallocates {@code [offset, offset + length)}: it reads as zeros from now on and the file keeps
     * its size ({@code fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)}). Partial file-system
     * blocks at the edges are zeroed, not freed. Context: any thread.
     *
     * @throws NativeException with the errno: EOPNOTSUPP where the file system cannot punch holes,
     *     EBADF if this was opened read-only, ENOSPC, EIO
     */
    public void punchHole(long offset, long length) {
        Libc.Scratch s = Libc.scratch();
        while (Libc.fallocate(s.state, fd, Libc.FALLOC_FL_PUNCH_HOLE | Libc.FALLOC_FL_KEEP_SIZE, offset, length) < 0) {
            int errno = Libc.errno(s.state);
            if (errno != Libc.EINTR) {
                throw new NativeException("fallocate", "fd " + fd + " (" + path + "), PUNCH_HOLE|KEEP_SIZE, "
                        + offset + ", " + length, errno);
            }
        }
    }

    /** The descriptor. Context: any thread. */
    public int fd() {
        return fd;
    }

    /** Closes the descriptor; later calls do nothing. Context: any thread. */
    @Override
    public void close() {
        if (CLOSED.compareAndSet(this, false, true)) {
            Fds.close(fd, "file");
        }
    }

    @Override
    public String toString() {
        return "FileExtents[fd " + fd + ", " + path + "]";
    }
}
