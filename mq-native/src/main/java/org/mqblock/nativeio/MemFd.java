package org.mqblock.nativeio;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * An anonymous memory file (memfd_create(2)): RAM with a file descriptor, so another process that
 * receives the fd can {@link Mapping map} the same pages. Guest RAM shared with a vhost-user
 * backend is made of these.
 *
 * <p>Threadsafe; {@link #close()} is idempotent. Closing the fd does not unmap mappings made from
 * it: the pages live until the last mapping and the last fd are gone.
 */
public final class MemFd implements AutoCloseable {

    /** {@code MFD_CLOEXEC}: not inherited across exec. */
    public static final int MFD_CLOEXEC = 0x1;
    /** {@code MFD_ALLOW_SEALING}: seals (F_ADD_SEALS) may later be added. */
    public static final int MFD_ALLOW_SEALING = 0x2;
    /** Seal ({@code F_SEAL_SEAL}): no more seals may be added. */
    public static final int F_SEAL_SEAL = 0x1;
    /** Seal ({@code F_SEAL_SHRINK}): the file cannot shrink, so no mapped page can vanish (SIGBUS). */
    public static final int F_SEAL_SHRINK = 0x2;
    /** Seal ({@code F_SEAL_GROW}): the file cannot grow. */
    public static final int F_SEAL_GROW = 0x4;

    private static final int F_ADD_SEALS = 1033;
    private static final int F_GET_SEALS = 1034;

    private static final VarHandle CLOSED;

    static {
        try {
            CLOSED = MethodHandles.lookup().findVarHandle(MemFd.class, "closed", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final int fd;
    /** Set once by the closing thread (CAS). */
    @SuppressWarnings("unused")
    private volatile boolean closed;

    private MemFd(int fd) {
        this.fd = fd;
    }

    /**
     * Creates an empty memfd (size 0: {@link #truncate} it before mapping). Context: any thread.
     *
     * @param name shown in /proc/PID/fd as {@code /memfd:NAME}; at most 249 bytes
     * @param flags {@link #MFD_CLOEXEC}, {@link #MFD_ALLOW_SEALING}, or'ed
     */
    public static MemFd create(String name, int flags) {
        if ((flags & ~(MFD_CLOEXEC | MFD_ALLOW_SEALING)) != 0) {
            throw new IllegalArgumentException("memfd flags 0x" + Integer.toHexString(flags)
                    + " include bits other than MFD_CLOEXEC, MFD_ALLOW_SEALING");
        }
        Libc.Scratch s = Libc.scratch();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cname = arena.allocateFrom(name);
            int fd = Libc.memfdCreate(s.state, cname, flags);
            if (fd < 0) {
                throw new NativeException("memfd_create", "\"" + name + "\", flags 0x" + Integer.toHexString(flags),
                        Libc.errno(s.state));
            }
            return new MemFd(fd);
        }
    }

    /**
     * Takes ownership of a memfd (or any mappable file) this process received. Context: any
     * thread.
     *
     * @throws NativeException if {@code fd} is not open
     */
    public static MemFd adopt(int fd) {
        if (!Fds.isOpen(fd)) {
            throw new NativeException("fcntl", "F_GETFD, fd " + fd, Libc.EBADF);
        }
        return new MemFd(fd);
    }

    /** The file descriptor. Context: any thread. */
    public int fd() {
        return fd;
    }

    /** Sets the size ({@code ftruncate(2)}); new bytes read as zero. Context: any thread. */
    public void truncate(long size) {
        Libc.Scratch s = Libc.scratch();
        while (Libc.ftruncate(s.state, fd, size) < 0) {
            int errno = Libc.errno(s.state);
            if (errno != Libc.EINTR) {
                throw new NativeException("ftruncate", "memfd " + fd + ", size " + size, errno);
            }
        }
    }

    /**
     * The seals on {@code fd} ({@code F_GET_SEALS}). Context: any thread.
     *
     * @throws NativeException EINVAL if the file does not support sealing (not a memfd, or one made
     *     without {@link #MFD_ALLOW_SEALING} still reports {@link #F_SEAL_SEAL})
     */
    public static int seals(int fd) {
        Libc.Scratch s = Libc.scratch();
        int seals = Libc.fcntl(s.state, fd, F_GET_SEALS, 0);
        if (seals < 0) {
            throw new NativeException("fcntl", "F_GET_SEALS, fd " + fd, Libc.errno(s.state));
        }
        return seals;
    }

    /**
     * Adds {@code seals} to {@code fd} ({@code F_ADD_SEALS}); a seal already there is kept.
     * Context: any thread.
     *
     * @throws NativeException EPERM if the file is sealed against sealing, EINVAL if it cannot be
     *     sealed, EBUSY for F_SEAL_WRITE over a writable mapping
     */
    public static void addSeals(int fd, int seals) {
        Libc.Scratch s = Libc.scratch();
        if (Libc.fcntl(s.state, fd, F_ADD_SEALS, seals) < 0) {
            throw new NativeException("fcntl", "F_ADD_SEALS 0x" + Integer.toHexString(seals) + ", fd " + fd,
                    Libc.errno(s.state));
        }
    }

    /** {@link Mapping#map(int, long, long)} of this memfd. Context: any thread. */
    public Mapping map(long offset, long length) {
        return Mapping.map(fd, offset, length);
    }

    /** Closes the fd (mappings stay valid); later calls do nothing. Context: any thread. */
    @Override
    public void close() {
        if (CLOSED.compareAndSet(this, false, true)) {
            Fds.close(fd, "memfd");
        }
    }

    @Override
    public String toString() {
        return "MemFd[fd " + fd + "]";
    }
}
