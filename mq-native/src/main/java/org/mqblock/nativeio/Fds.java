package org.mqblock.nativeio;

/**
 * Raw file descriptors, for the fds a process receives ({@link UnixSocket#recvMsg}) before an
 * object ({@link EventFd#adopt}, {@link MemFd#adopt}, {@link UnixSocket#adopt}) takes them over.
 */
public final class Fds {

    private Fds() {}

    /**
     * Closes {@code fd}. EINTR is not retried: Linux has released the fd by then, and a retry could
     * close a number another thread was just given. Context: any thread.
     *
     * @throws NativeException if {@code fd} was not open (EBADF) or the close reported an I/O error
     */
    public static void close(int fd) {
        close(fd, "fd");
    }

    /** Whether {@code fd} is an open file descriptor of this process. Context: any thread. */
    public static boolean isOpen(int fd) {
        Libc.Scratch s = Libc.scratch();
        return Libc.fcntl(s.state, fd, Libc.F_GETFD, 0) >= 0 || Libc.errno(s.state) != Libc.EBADF;
    }

    static void close(int fd, String what) {
        Libc.Scratch s = Libc.scratch();
        if (Libc.close(s.state, fd) < 0) {
            int errno = Libc.errno(s.state);
            if (errno != Libc.EINTR) {
                throw new NativeException("close", what + " " + fd, errno);
            }
        }
    }

    /** Closes {@code fd} and says nothing if that fails: for cleanup after another failure. */
    public static void closeQuietly(int fd) {
        Libc.close(Libc.scratch().state, fd);
    }
}
