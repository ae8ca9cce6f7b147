package org.mqblock.nativeio;

/**
 * A system call that failed: the message names the call, what it was called on and the errno,
 * by name, number and description, as {@code epoll_ctl(ADD, fd 17): EBADF (9): Bad file
 * descriptor}. A failure that is not an errno (a truncated control message) has {@link #errno()}
 * 0 and says what happened instead.
 *
 * <p>Unchecked, on purpose: the interfaces these bindings serve ({@code FdSignal}, {@code
 * FdMonitor}, handlers that are {@code Runnable}s) declare no checked exceptions, and most of
 * these failures (EBADF, EINVAL) are bugs, not conditions to recover from. The conditions a caller
 * must handle on a non-blocking fd (EAGAIN) are sentinel returns, never this exception.
 */
public final class NativeException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final String call;
    private final int errno;

    /** A call that failed with {@code errno}; {@code on} says on what ("fd 17", "ADD, fd 17"). Context: any thread. */
    public NativeException(String call, String on, int errno) {
        super(call + "(" + on + "): " + describe(errno));
        this.call = call;
        this.errno = errno;
    }

    /** A failure without an errno; {@code what} says what went wrong. Context: any thread. */
    public NativeException(String call, String on, String what) {
        super(call + "(" + on + "): " + what);
        this.call = call;
        this.errno = 0;
    }

    /** The C function that failed ({@code "epoll_ctl"}). Context: any thread. */
    public String call() {
        return call;
    }

    /** The errno it failed with, or 0 for a failure that is not an errno. Context: any thread. */
    public int errno() {
        return errno;
    }

    /**
     * {@code "EBADF (9): Bad file descriptor"} for {@code errno} 9: the symbolic name (where libc
     * can give it), the number and the description. Context: any thread.
     */
    public static String describe(int errno) {
        String name = Libc.errnoName(errno);
        return (name != null ? name : "errno") + " (" + errno + "): " + Libc.strerror(errno);
    }
}
