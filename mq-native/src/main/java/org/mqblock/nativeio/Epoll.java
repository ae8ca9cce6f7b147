package org.mqblock.nativeio;

import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * An epoll instance (epoll(7)), level-triggered unless asked otherwise: a set of fds, each
 * registered with the events it waits for and a 64-bit datum that {@link #await} hands back with
 * each ready fd.
 *
 * <p>{@link #await} sleeps with nanosecond precision through {@code epoll_pwait2} (Linux 5.11,
 * glibc 2.35); where that is missing (ENOSYS, or libc lacks it) it falls back, once and for the
 * whole process, to {@code epoll_wait} with the timeout rounded up to whole milliseconds. Its
 * results land in an events buffer allocated with the instance, so a wait allocates nothing.
 *
 * <p>Threads: {@link #add}, {@link #modify} and {@link #delete} from any thread (the kernel
 * serializes them, and they may run while another thread waits); {@link #await} and the result
 * accessors {@link #events(int)} and {@link #data(int)} from one thread at a time, the waiter.
 * Not threadsafe otherwise.
 */
public final class Epoll implements AutoCloseable {

    /** Readable. */
    public static final int EPOLLIN = 0x001;
    /** Urgent data. */
    public static final int EPOLLPRI = 0x002;
    /** Writable. */
    public static final int EPOLLOUT = 0x004;
    /** Error; always reported, whether asked for or not. */
    public static final int EPOLLERR = 0x008;
    /** Hang-up; always reported, whether asked for or not. */
    public static final int EPOLLHUP = 0x010;
    /** The peer shut down its writing half. */
    public static final int EPOLLRDHUP = 0x2000;
    /** Report once, then disable until {@link #modify}. */
    public static final int EPOLLONESHOT = 1 << 30;
    /** Edge-triggered. */
    public static final int EPOLLET = 1 << 31;

    private static final int EPOLL_CLOEXEC = 0x80000;
    private static final int EPOLL_CTL_ADD = 1;
    private static final int EPOLL_CTL_DEL = 2;
    private static final int EPOLL_CTL_MOD = 3;

    /**
     * Cleared once, by the first wait that gets ENOSYS; read by every wait. Plain: a thread that
     * still reads true pays one more ENOSYS and clears it itself.
     */
    private static boolean pwait2Works = Libc.hasEpollPwait2();

    private static final VarHandle CLOSED;

    static {
        try {
            CLOSED = MethodHandles.lookup().findVarHandle(Epoll.class, "closed", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final int epfd;
    private final int maxEvents;
    private final Arena arena = Arena.ofShared();
    /** maxEvents packed epoll_events; written by the kernel in wait, read by the waiter. */
    private final MemorySegment events;
    /** The waiter's timespec for epoll_pwait2. */
    private final MemorySegment timeout;
    /** Whether this instance may try epoll_pwait2 (false forces the fallback, for tests). */
    private final boolean allowPwait2;
    /** Set once by the closing thread (CAS). */
    @SuppressWarnings("unused")
    private volatile boolean closed;

    private Epoll(int epfd, int maxEvents, boolean allowPwait2) {
        this.epfd = epfd;
        this.maxEvents = maxEvents;
        this.allowPwait2 = allowPwait2;
        this.events = arena.allocate(CStructs.EpollEvent.SIZE * maxEvents, 8);
        this.timeout = arena.allocate(CStructs.Timespec.LAYOUT);
    }

    /**
     * Creates an epoll instance ({@code epoll_create1(EPOLL_CLOEXEC)}) whose {@link #await} reports
     * up to {@code maxEvents} fds at a time (the rest stay ready for the next wait). Context: any
     * thread.
     */
    public static Epoll create(int maxEvents) {
        return create(maxEvents, true);
    }

    static Epoll create(int maxEvents, boolean allowPwait2) {
        if (maxEvents <= 0) {
            throw new IllegalArgumentException("maxEvents must be > 0, got " + maxEvents);
        }
        Libc.Scratch s = Libc.scratch();
        int fd = Libc.epollCreate1(s.state, EPOLL_CLOEXEC);
        if (fd < 0) {
            throw new NativeException("epoll_create1", "EPOLL_CLOEXEC", Libc.errno(s.state));
        }
        try {
            return new Epoll(fd, maxEvents, allowPwait2);
        } catch (RuntimeException | Error e) {
            Fds.closeQuietly(fd);
            throw e;
        }
    }

    /** Whether waits use epoll_pwait2 (nanosecond timeouts) in this process. Context: any thread. */
    public static boolean usesEpollPwait2() {
        return pwait2Works;
    }

    /** The epoll fd. Context: any thread. */
    public int fd() {
        return epfd;
    }

    /** The most fds one {@link #await} reports. Context: any thread. */
    public int maxEvents() {
        return maxEvents;
    }

    /**
     * Watches {@code fd} for {@code events} ({@link #EPOLLIN}, {@link #EPOLLOUT}, ...), reporting
     * {@code data} with it. Context: any thread.
     *
     * @throws NativeException if the fd is already watched (EEXIST), is not open (EBADF) or cannot be
     *         watched (EPERM for a regular file)
     */
    public void add(int fd, int events, long data) {
        ctl(EPOLL_CTL_ADD, "ADD", fd, events, data);
    }

    /** Changes the events and data of a watched {@code fd}. Context: any thread. */
    public void modify(int fd, int events, long data) {
        ctl(EPOLL_CTL_MOD, "MOD", fd, events, data);
    }

    /**
     * Stops watching {@code fd}. Context: any thread.
     *
     * @throws NativeException if it was not watched (ENOENT) or is not open (EBADF)
     */
    public void delete(int fd) {
        ctl(EPOLL_CTL_DEL, "DEL", fd, 0, 0);
    }

    private void ctl(int op, String opName, int fd, int events, long data) {
        Libc.Scratch s = Libc.scratch();
        MemorySegment ev = s.epollEvent;
        ev.set(JAVA_INT_UNALIGNED, CStructs.EpollEvent.EVENTS, events);
        ev.set(JAVA_LONG_UNALIGNED, CStructs.EpollEvent.DATA, data);
        if (Libc.epollCtl(s.state, epfd, op, fd, ev) < 0) {
            throw new NativeException("epoll_ctl", opName + ", fd " + fd, Libc.errno(s.state));
        }
    }

    /**
     * Waits until a watched fd is ready or {@code timeoutNs} passes, and returns how many fds are
     * ready; their events and data are then {@link #events(int)} and {@link #data(int)} for index
     * 0 to the count minus 1, until the next wait. A signal (EINTR) does not end the wait early:
     * it resumes with the time left. Allocates nothing. Context: the waiter.
     *
     * @param timeoutNs -1 (or any negative value) waits without a deadline, 0 looks without sleeping
     * @return the number of ready fds, 0 if the timeout passed first
     */
    public int await(long timeoutNs) {
        Libc.Scratch s = Libc.scratch();
        long deadline = timeoutNs > 0 ? System.nanoTime() + timeoutNs : 0;
        long left = timeoutNs;
        while (true) {
            int n = waitOnce(s, left);
            if (n >= 0) {
                return n;
            }
            int errno = Libc.errno(s.state);
            if (errno != Libc.EINTR) {
                throw new NativeException(pwait2Works && allowPwait2 ? "epoll_pwait2" : "epoll_wait",
                        "epoll fd " + epfd + ", timeout " + timeoutNs + " ns", errno);
            }
            if (timeoutNs > 0) {
                left = Math.max(0, deadline - System.nanoTime());
            }
        }
    }

    private int waitOnce(Libc.Scratch s, long timeoutNs) {
        if (pwait2Works && allowPwait2) {
            MemorySegment ts = MemorySegment.NULL;
            if (timeoutNs >= 0) {
                timeout.set(JAVA_LONG, CStructs.Timespec.TV_SEC, timeoutNs / 1_000_000_000L);
                timeout.set(JAVA_LONG, CStructs.Timespec.TV_NSEC, timeoutNs % 1_000_000_000L);
                ts = timeout;
            }
            int n = Libc.epollPwait2(s.state, epfd, events, maxEvents, ts, MemorySegment.NULL);
            if (n >= 0 || Libc.errno(s.state) != Libc.ENOSYS) {
                return n;
            }
            pwait2Works = false; // the kernel is older than 5.11 (or a seccomp filter says no)
        }
        int ms;
        if (timeoutNs < 0) {
            ms = -1;
        } else {
            long rounded = (timeoutNs + 999_999) / 1_000_000; // round up: never wake before the deadline
            ms = (int) Math.min(rounded, Integer.MAX_VALUE);
        }
        return Libc.epollWait(s.state, epfd, events, maxEvents, ms);
    }

    /** The events of the {@code i}th ready fd of the last {@link #await}. Context: the waiter. */
    public int events(int i) {
        return events.get(JAVA_INT_UNALIGNED, i * CStructs.EpollEvent.SIZE + CStructs.EpollEvent.EVENTS);
    }

    /** The data of the {@code i}th ready fd of the last {@link #await}. Context: the waiter. */
    public long data(int i) {
        return events.get(JAVA_LONG_UNALIGNED, i * CStructs.EpollEvent.SIZE + CStructs.EpollEvent.DATA);
    }

    /**
     * Closes the epoll fd and frees the events buffer; later calls do nothing. The watched fds stay
     * open. Context: any thread, once no thread waits.
     */
    @Override
    public void close() {
        if (CLOSED.compareAndSet(this, false, true)) {
            Fds.close(epfd, "epoll fd");
            arena.close();
        }
    }

    @Override
    public String toString() {
        return "Epoll[fd " + epfd + ", " + maxEvents + " events per wait]";
    }
}
