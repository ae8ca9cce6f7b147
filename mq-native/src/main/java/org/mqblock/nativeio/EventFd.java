package org.mqblock.nativeio;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import org.mqblock.core.loop.FdSignal;

/**
 * An eventfd (eventfd(2)): a 64-bit counter in the kernel that {@link #write} adds to and {@link
 * #read} takes (all of it, or 1 with {@link #EFD_SEMAPHORE}), readable while it is non-zero. The
 * kernel object QEMU's {@code EventNotifier} wraps; as an {@link FdSignal} it is what an ioeventfd
 * (another process writes, a context watches) or an irqfd (we write, another process waits) is
 * made of.
 *
 * <p>Threadsafe: any thread may read and write (each uses its own scratch memory, so neither
 * allocates). {@link #close()} is idempotent, and must come after the last use by other threads.
 */
public final class EventFd implements FdSignal, AutoCloseable {

    /** {@code EFD_SEMAPHORE}: a read takes 1 from the counter, not all of it. */
    public static final int EFD_SEMAPHORE = 0x1;
    /** {@code EFD_CLOEXEC}: not inherited across exec. */
    public static final int EFD_CLOEXEC = 0x80000;
    /** {@code EFD_NONBLOCK}: a read of a zero counter fails with EAGAIN ({@link #EMPTY}) instead of blocking. */
    public static final int EFD_NONBLOCK = 0x800;

    /** What {@link #read()} returns on a non-blocking eventfd whose counter is zero (no counter value is -1). */
    public static final long EMPTY = -1;

    private static final int ALL_FLAGS = EFD_SEMAPHORE | EFD_CLOEXEC | EFD_NONBLOCK;
    private static final VarHandle CLOSED;

    static {
        try {
            CLOSED = MethodHandles.lookup().findVarHandle(EventFd.class, "closed", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final int fd;
    private final boolean nonBlocking;
    /** Set once by the closing thread (CAS); read by close only. */
    @SuppressWarnings("unused")
    private volatile boolean closed;

    private EventFd(int fd, boolean nonBlocking) {
        this.fd = fd;
        this.nonBlocking = nonBlocking;
    }

    /**
     * Creates an eventfd with counter 0. Context: any thread.
     *
     * @param flags {@link #EFD_NONBLOCK}, {@link #EFD_CLOEXEC}, {@link #EFD_SEMAPHORE}, or'ed
     */
    public static EventFd create(int flags) {
        return create(0, flags);
    }

    /** Creates an eventfd whose counter starts at {@code initial} (an unsigned int). Context: any thread. */
    public static EventFd create(int initial, int flags) {
        if ((flags & ~ALL_FLAGS) != 0) {
            throw new IllegalArgumentException("eventfd flags 0x" + Integer.toHexString(flags)
                    + " include bits other than EFD_NONBLOCK, EFD_CLOEXEC, EFD_SEMAPHORE");
        }
        Libc.Scratch s = Libc.scratch();
        int fd = Libc.eventfd(s.state, initial, flags);
        if (fd < 0) {
            throw new NativeException("eventfd", "flags 0x" + Integer.toHexString(flags), Libc.errno(s.state));
        }
        return new EventFd(fd, (flags & EFD_NONBLOCK) != 0);
    }

    /**
     * Takes ownership of an eventfd this process received (over a Unix socket, {@link
     * UnixSocket#recvMsg}); learns from the fd whether it is non-blocking. Nothing checks that the
     * fd really is an eventfd. Context: any thread.
     *
     * @throws NativeException if {@code fd} is not open
     */
    public static EventFd adopt(int fd) {
        Libc.Scratch s = Libc.scratch();
        int fl = Libc.fcntl(s.state, fd, Libc.F_GETFL, 0);
        if (fl < 0) {
            throw new NativeException("fcntl", "F_GETFL, fd " + fd, Libc.errno(s.state));
        }
        return new EventFd(fd, (fl & Libc.O_NONBLOCK) != 0);
    }

    /**
     * Takes ownership of an eventfd this process received and makes it non-blocking first
     * ({@code O_NONBLOCK}, a flag of the open file: the sender's fd becomes non-blocking too, as
     * QEMU's vhost-user server does to the kick fds it watches). Then a peer that drains the
     * counter before us, or fills it to its maximum, cannot make a {@link #read} or {@link #write}
     * here wait: they return {@link #EMPTY} and false. Nothing checks that the fd is an eventfd.
     * Context: any thread.
     *
     * @throws NativeException if {@code fd} is not open
     */
    public static EventFd adoptNonBlocking(int fd) {
        Libc.Scratch s = Libc.scratch();
        int fl = Libc.fcntl(s.state, fd, Libc.F_GETFL, 0);
        if (fl < 0) {
            throw new NativeException("fcntl", "F_GETFL, fd " + fd, Libc.errno(s.state));
        }
        if ((fl & Libc.O_NONBLOCK) == 0 && Libc.fcntl(s.state, fd, Libc.F_SETFL, fl | Libc.O_NONBLOCK) < 0) {
            throw new NativeException("fcntl", "F_SETFL O_NONBLOCK, fd " + fd, Libc.errno(s.state));
        }
        return new EventFd(fd, true);
    }

    /** The file descriptor. Context: any thread. */
    @Override
    public int fd() {
        return fd;
    }

    /** Whether a read of a zero counter returns {@link #EMPTY} rather than blocking. Context: any thread. */
    public boolean isNonBlocking() {
        return nonBlocking;
    }

    /**
     * Reads the counter and resets it to 0 (with {@link #EFD_SEMAPHORE}: returns 1 and takes 1).
     * On a blocking eventfd waits for a non-zero counter. Allocates nothing. Context: any thread.
     *
     * @return the counter (never negative as a signed value below 2^63, and never -1), or {@link
     *         #EMPTY} if the eventfd is non-blocking and the counter is zero
     */
    public long read() {
        Libc.Scratch s = Libc.scratch();
        while (true) {
            long n = Libc.read(s.state, fd, s.u64, 8);
            if (n == 8) {
                return s.u64.get(JAVA_LONG, 0);
            }
            if (n < 0) {
                int errno = Libc.errno(s.state);
                if (errno == Libc.EINTR) {
                    continue;
                }
                if (errno == Libc.EAGAIN) {
                    return EMPTY;
                }
                throw new NativeException("read", "eventfd " + fd, errno);
            }
            throw new NativeException("read", "eventfd " + fd, "read " + n + " bytes, not 8");
        }
    }

    /**
     * Adds {@code value} to the counter, waking readers. Allocates nothing. Context: any thread.
     *
     * @param value 0 to 2^64-2 as an unsigned long (-1 is refused by the kernel: EINVAL)
     * @return false if the eventfd is non-blocking and the counter would overflow (EAGAIN);
     *         true once written (a blocking eventfd waits for room instead)
     */
    public boolean write(long value) {
        Libc.Scratch s = Libc.scratch();
        s.u64.set(JAVA_LONG, 0, value);
        while (true) {
            long n = Libc.write(s.state, fd, s.u64, 8);
            if (n == 8) {
                return true;
            }
            if (n < 0) {
                int errno = Libc.errno(s.state);
                if (errno == Libc.EINTR) {
                    continue;
                }
                if (errno == Libc.EAGAIN) {
                    return false;
                }
                throw new NativeException("write", "eventfd " + fd + ", value " + Long.toUnsignedString(value), errno);
            }
            throw new NativeException("write", "eventfd " + fd, "wrote " + n + " bytes, not 8");
        }
    }

    /** {@code write(1)}: the {@link FdSignal} form. Context: any thread. */
    @Override
    public void signal() {
        write(1);
    }

    /**
     * Consumes the pending count without ever blocking; returns whether it was non-zero. On a
     * blocking eventfd it first looks with {@code poll(2)} and a zero timeout, and reads only if the
     * counter is non-zero: that is safe with one consumer (the watching context), which is how an
     * {@link FdSignal} is used; two consumers of one blocking eventfd could leave this read
     * waiting. With {@link #EFD_SEMAPHORE} it takes 1, not all. Context: any thread.
     */
    @Override
    public boolean testAndClear() {
        if (!nonBlocking && !readable()) {
            return false;
        }
        return read() != EMPTY;
    }

    /**
     * Waits until the counter is non-zero or {@code timeoutMs} passed ({@code poll(2)} for POLLIN),
     * without consuming anything; a caller that sees true then {@link #read()}s. Allocates nothing.
     * Context: any thread (one waiter at a time is what it is for: a front-end's call eventfd).
     *
     * @param timeoutMs -1 waits forever, 0 only looks
     * @return whether the eventfd is readable
     */
    public boolean awaitReadable(int timeoutMs) {
        return readable(timeoutMs);
    }

    /** {@code poll(2)} with timeout 0 for POLLIN. */
    private boolean readable() {
        return readable(0);
    }

    private boolean readable(int timeoutMs) {
        Libc.Scratch s = Libc.scratch();
        s.pollfd.set(JAVA_INT, CStructs.Pollfd.FD, fd);
        s.pollfd.set(JAVA_SHORT, CStructs.Pollfd.EVENTS, Libc.POLLIN);
        s.pollfd.set(JAVA_SHORT, CStructs.Pollfd.REVENTS, (short) 0);
        while (true) {
            int n = Libc.poll(s.state, s.pollfd, 1, timeoutMs);
            if (n >= 0) {
                return n == 1 && (s.pollfd.get(JAVA_SHORT, CStructs.Pollfd.REVENTS) & Libc.POLLIN) != 0;
            }
            int errno = Libc.errno(s.state);
            if (errno != Libc.EINTR) {
                throw new NativeException("poll", "eventfd " + fd, errno);
            }
        }
    }

    /** Closes the fd; later calls do nothing. Context: any thread, after the last use by others. */
    @Override
    public void close() {
        if (CLOSED.compareAndSet(this, false, true)) {
            Fds.close(fd, "eventfd");
        }
    }

    @Override
    public String toString() {
        return "EventFd[fd " + fd + (nonBlocking ? ", non-blocking" : "") + "]";
    }
}
