package org.mqblock.nativeio;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.util.Optional;

/**
 * The libc functions the bindings call, one downcall handle each, linked once when this class
 * loads (after {@link Platform#requireSupported()}). Every handle that can fail captures errno
 * ({@code Linker.Option.captureCallState("errno")}): its first argument is the calling thread's
 * {@link Scratch#state} segment, read with {@link #errno(MemorySegment)} right after a {@code -1}.
 *
 * <p>The wrappers only translate {@code invokeExact}'s {@code Throwable}; deciding what a {@code
 * -1} means (retry on EINTR, sentinel on EAGAIN, exception otherwise) is the caller's.
 */
final class Libc {

    static {
        Platform.requireSupported();
    }

    // errno values (asm-generic/errno-base.h, errno.h) the bindings act on.
    static final int EINTR = 4;
    static final int EBADF = 9;
    static final int EAGAIN = 11;
    static final int ENOENT = 2;
    static final int ENOSYS = 38;
    static final int EISCONN = 106;
    static final int ENXIO = 6;

    // open, lseek, fallocate
    static final int O_RDONLY = 0;
    static final int O_RDWR = 2;
    static final int O_CLOEXEC = 0x80000;
    static final int SEEK_DATA = 3;
    static final int SEEK_HOLE = 4;
    static final int FALLOC_FL_KEEP_SIZE = 0x01;
    static final int FALLOC_FL_PUNCH_HOLE = 0x02;

    // fcntl
    static final int F_GETFD = 1;
    static final int F_GETFL = 3;
    static final int F_SETFL = 4;
    static final int O_NONBLOCK = 0x800;

    // poll
    static final short POLLIN = 0x001;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LOOKUP = LINKER.defaultLookup();
    private static final StructLayout CAPTURE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE_LAYOUT.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");

    private static final MethodHandle CLOSE = capture("close", JAVA_INT, JAVA_INT);
    private static final MethodHandle READ = capture("read", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final MethodHandle WRITE = capture("write", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final MethodHandle POLL = capture("poll", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT);
    private static final MethodHandle FCNTL = captureVariadic("fcntl", 2, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT);
    private static final MethodHandle EVENTFD = capture("eventfd", JAVA_INT, JAVA_INT, JAVA_INT);
    private static final MethodHandle MEMFD_CREATE = capture("memfd_create", JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle FTRUNCATE = capture("ftruncate", JAVA_INT, JAVA_INT, JAVA_LONG);
    private static final MethodHandle MMAP = capture("mmap", ADDRESS,
            ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG);
    private static final MethodHandle MUNMAP = capture("munmap", JAVA_INT, ADDRESS, JAVA_LONG);
    private static final MethodHandle EPOLL_CREATE1 = capture("epoll_create1", JAVA_INT, JAVA_INT);
    private static final MethodHandle EPOLL_CTL = capture("epoll_ctl", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS);
    private static final MethodHandle EPOLL_WAIT = capture("epoll_wait", JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
    /** Null where libc lacks it (glibc before 2.35); {@link Epoll} then uses epoll_wait. */
    private static final MethodHandle EPOLL_PWAIT2 = captureOptional("epoll_pwait2", JAVA_INT,
            JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, ADDRESS);
    private static final MethodHandle SOCKET = capture("socket", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT);
    private static final MethodHandle SOCKETPAIR = capture("socketpair", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS);
    private static final MethodHandle BIND = capture("bind", JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle LISTEN = capture("listen", JAVA_INT, JAVA_INT, JAVA_INT);
    private static final MethodHandle ACCEPT4 = capture("accept4", JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT);
    private static final MethodHandle CONNECT = capture("connect", JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle SEND = capture("send", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT);
    private static final MethodHandle RECV = capture("recv", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT);
    private static final MethodHandle SENDMSG = capture("sendmsg", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle RECVMSG = capture("recvmsg", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle SHUTDOWN = capture("shutdown", JAVA_INT, JAVA_INT, JAVA_INT);
    private static final MethodHandle GETSOCKOPT = capture("getsockopt", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS);
    private static final MethodHandle SETSOCKOPT = capture("setsockopt", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle UNLINK = capture("unlink", JAVA_INT, ADDRESS);
    private static final MethodHandle OPEN = captureVariadic("open", 2, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
    private static final MethodHandle LSEEK = capture("lseek", JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT);
    private static final MethodHandle FALLOCATE = capture("fallocate", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG);
    private static final MethodHandle PRCTL = captureVariadic("prctl", 1, JAVA_INT, JAVA_INT, JAVA_LONG);
    // fcntl(2) with a struct flock, for OFD locks (FileLocks); open(2) is OPEN above
    private static final MethodHandle FCNTL_FLOCK = captureVariadic("fcntl", 2, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS);
    private static final MethodHandle SYSCONF = plain("sysconf", FunctionDescriptor.of(JAVA_LONG, JAVA_INT));
    private static final MethodHandle STRERROR_R = plain("strerror_r",
            FunctionDescriptor.of(ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG));
    /** glibc 2.32+: the name ("EBADF") and the English description, whatever the locale. */
    private static final MethodHandle STRERRORNAME_NP = plainOptional("strerrorname_np",
            FunctionDescriptor.of(ADDRESS, JAVA_INT));
    private static final MethodHandle STRERRORDESC_NP = plainOptional("strerrordesc_np",
            FunctionDescriptor.of(ADDRESS, JAVA_INT));

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private Libc() {}

    /**
     * One thread's native scratch memory, allocated once per thread and freed with it ({@code
     * Arena.ofAuto()}): the errno capture segment every downcall needs, an 8-byte value (an eventfd
     * counter), a pollfd and an epoll_event. Only its thread touches it.
     */
    static final class Scratch {
        final MemorySegment state;
        final MemorySegment u64;
        final MemorySegment pollfd;
        final MemorySegment epollEvent;

        private Scratch() {
            long stateSize = CStructs.Cmsghdr.align(CAPTURE_LAYOUT.byteSize());
            long pollfdAt = stateSize + 8;
            long eventAt = pollfdAt + CStructs.Pollfd.SIZE;
            MemorySegment all = Arena.ofAuto().allocate(eventAt + CStructs.EpollEvent.SIZE, 8);
            state = all.asSlice(0, CAPTURE_LAYOUT.byteSize());
            u64 = all.asSlice(stateSize, 8);
            pollfd = all.asSlice(pollfdAt, CStructs.Pollfd.SIZE);
            epollEvent = all.asSlice(eventAt, CStructs.EpollEvent.SIZE);
        }
    }

    /** The calling thread's scratch memory. Context: any thread; allocates only on its first call. */
    static Scratch scratch() {
        return SCRATCH.get();
    }

    static int errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    static boolean hasEpollPwait2() {
        return EPOLL_PWAIT2 != null;
    }

    @SuppressWarnings("restricted")
    private static MethodHandle capture(String name, MemoryLayout ret, MemoryLayout... args) {
        MemorySegment symbol = LOOKUP.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
        return LINKER.downcallHandle(symbol, FunctionDescriptor.of(ret, args), CAPTURE_ERRNO);
    }

    @SuppressWarnings("restricted")
    private static MethodHandle captureVariadic(String name, int firstVariadic, MemoryLayout ret, MemoryLayout... args) {
        MemorySegment symbol = LOOKUP.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
        return LINKER.downcallHandle(symbol, FunctionDescriptor.of(ret, args), CAPTURE_ERRNO,
                Linker.Option.firstVariadicArg(firstVariadic));
    }

    @SuppressWarnings("restricted")
    private static MethodHandle captureOptional(String name, MemoryLayout ret, MemoryLayout... args) {
        Optional<MemorySegment> symbol = LOOKUP.find(name);
        return symbol.map(s -> LINKER.downcallHandle(s, FunctionDescriptor.of(ret, args), CAPTURE_ERRNO)).orElse(null);
    }

    @SuppressWarnings("restricted")
    private static MethodHandle plain(String name, FunctionDescriptor fd) {
        MemorySegment symbol = LOOKUP.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
        return LINKER.downcallHandle(symbol, fd);
    }

    @SuppressWarnings("restricted")
    private static MethodHandle plainOptional(String name, FunctionDescriptor fd) {
        return LOOKUP.find(name).map(s -> LINKER.downcallHandle(s, fd)).orElse(null);
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException("downcall threw a checked exception", t);
    }

    // ---------------------------------------------------------------------------------------
    // The calls. Each returns what the C function returns; errno is in `st` after a failure.

    static int close(MemorySegment st, int fd) {
        try {
            return (int) CLOSE.invokeExact(st, fd);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static long read(MemorySegment st, int fd, MemorySegment buf, long len) {
        try {
            return (long) READ.invokeExact(st, fd, buf, len);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static long write(MemorySegment st, int fd, MemorySegment buf, long len) {
        try {
            return (long) WRITE.invokeExact(st, fd, buf, len);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int poll(MemorySegment st, MemorySegment fds, long nfds, int timeoutMs) {
        try {
            return (int) POLL.invokeExact(st, fds, nfds, timeoutMs);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int fcntl(MemorySegment st, int fd, int cmd, int arg) {
        try {
            return (int) FCNTL.invokeExact(st, fd, cmd, arg);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int eventfd(MemorySegment st, int initval, int flags) {
        try {
            return (int) EVENTFD.invokeExact(st, initval, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int memfdCreate(MemorySegment st, MemorySegment name, int flags) {
        try {
            return (int) MEMFD_CREATE.invokeExact(st, name, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int ftruncate(MemorySegment st, int fd, long length) {
        try {
            return (int) FTRUNCATE.invokeExact(st, fd, length);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static MemorySegment mmap(MemorySegment st, MemorySegment addr, long len, int prot, int flags, int fd, long off) {
        try {
            return (MemorySegment) MMAP.invokeExact(st, addr, len, prot, flags, fd, off);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int munmap(MemorySegment st, MemorySegment addr, long len) {
        try {
            return (int) MUNMAP.invokeExact(st, addr, len);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int epollCreate1(MemorySegment st, int flags) {
        try {
            return (int) EPOLL_CREATE1.invokeExact(st, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int epollCtl(MemorySegment st, int epfd, int op, int fd, MemorySegment event) {
        try {
            return (int) EPOLL_CTL.invokeExact(st, epfd, op, fd, event);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int epollWait(MemorySegment st, int epfd, MemorySegment events, int max, int timeoutMs) {
        try {
            return (int) EPOLL_WAIT.invokeExact(st, epfd, events, max, timeoutMs);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int epollPwait2(MemorySegment st, int epfd, MemorySegment events, int max, MemorySegment timeout,
                           MemorySegment sigmask) {
        try {
            return (int) EPOLL_PWAIT2.invokeExact(st, epfd, events, max, timeout, sigmask);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int socket(MemorySegment st, int domain, int type, int protocol) {
        try {
            return (int) SOCKET.invokeExact(st, domain, type, protocol);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int socketpair(MemorySegment st, int domain, int type, int protocol, MemorySegment sv) {
        try {
            return (int) SOCKETPAIR.invokeExact(st, domain, type, protocol, sv);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int bind(MemorySegment st, int fd, MemorySegment addr, int len) {
        try {
            return (int) BIND.invokeExact(st, fd, addr, len);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int listen(MemorySegment st, int fd, int backlog) {
        try {
            return (int) LISTEN.invokeExact(st, fd, backlog);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int accept4(MemorySegment st, int fd, MemorySegment addr, MemorySegment len, int flags) {
        try {
            return (int) ACCEPT4.invokeExact(st, fd, addr, len, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int connect(MemorySegment st, int fd, MemorySegment addr, int len) {
        try {
            return (int) CONNECT.invokeExact(st, fd, addr, len);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static long send(MemorySegment st, int fd, MemorySegment buf, long len, int flags) {
        try {
            return (long) SEND.invokeExact(st, fd, buf, len, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static long recv(MemorySegment st, int fd, MemorySegment buf, long len, int flags) {
        try {
            return (long) RECV.invokeExact(st, fd, buf, len, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static long sendmsg(MemorySegment st, int fd, MemorySegment msg, int flags) {
        try {
            return (long) SENDMSG.invokeExact(st, fd, msg, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static long recvmsg(MemorySegment st, int fd, MemorySegment msg, int flags) {
        try {
            return (long) RECVMSG.invokeExact(st, fd, msg, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int shutdown(MemorySegment st, int fd, int how) {
        try {
            return (int) SHUTDOWN.invokeExact(st, fd, how);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int getsockopt(MemorySegment st, int fd, int level, int name, MemorySegment value, MemorySegment len) {
        try {
            return (int) GETSOCKOPT.invokeExact(st, fd, level, name, value, len);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int setsockopt(MemorySegment st, int fd, int level, int name, MemorySegment value, int len) {
        try {
            return (int) SETSOCKOPT.invokeExact(st, fd, level, name, value, len);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int unlink(MemorySegment st, MemorySegment path) {
        try {
            return (int) UNLINK.invokeExact(st, path);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int open(MemorySegment st, MemorySegment path, int flags, int mode) {
        try {
            return (int) OPEN.invokeExact(st, path, flags, mode);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static long lseek(MemorySegment st, int fd, long offset, int whence) {
        try {
            return (long) LSEEK.invokeExact(st, fd, offset, whence);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int fallocate(MemorySegment st, int fd, int mode, long offset, long length) {
        try {
            return (int) FALLOCATE.invokeExact(st, fd, mode, offset, length);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int prctl(MemorySegment st, int option, long arg) {
        try {
            return (int) PRCTL.invokeExact(st, option, arg);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static int fcntlFlock(MemorySegment st, int fd, int cmd, MemorySegment flock) {
        try {
            return (int) FCNTL_FLOCK.invokeExact(st, fd, cmd, flock);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static long sysconf(int name) {
        try {
            return (long) SYSCONF.invokeExact(name);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** errno's symbolic name ("EBADF"), or null where libc cannot say. */
    @SuppressWarnings("restricted")
    static String errnoName(int errno) {
        if (STRERRORNAME_NP == null) {
            return null;
        }
        try {
            MemorySegment p = (MemorySegment) STRERRORNAME_NP.invokeExact(errno);
            return p.equals(MemorySegment.NULL) ? null : p.reinterpret(64).getString(0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** errno's description ("Bad file descriptor"): English from glibc 2.32 on, else strerror_r's. */
    @SuppressWarnings("restricted")
    static String strerror(int errno) {
        try {
            if (STRERRORDESC_NP != null) {
                MemorySegment p = (MemorySegment) STRERRORDESC_NP.invokeExact(errno);
                if (!p.equals(MemorySegment.NULL)) {
                    return p.reinterpret(256).getString(0);
                }
            }
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment buf = arena.allocate(256);
                MemorySegment p = (MemorySegment) STRERROR_R.invokeExact(errno, buf, 256L);
                return p.reinterpret(256).getString(0);
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
