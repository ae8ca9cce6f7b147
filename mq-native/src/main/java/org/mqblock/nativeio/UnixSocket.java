package org.mqblock.nativeio;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A Unix-domain stream socket (unix(7)): a connected pair in this process ({@link #pair()}), a
 * listener on a path ({@link #listen}, {@link #accept()}) or a client ({@link #connect}). Besides
 * bytes ({@link #send}, {@link #recv}) it carries file descriptors ({@link #sendMsg}, {@link
 * #recvMsg}, SCM_RIGHTS): how a vhost-user front-end hands its guest RAM (memfds) and its kick and
 * call eventfds to a backend in another process.
 *
 * <p>Every socket is created close-on-exec, received fds too ({@code MSG_CMSG_CLOEXEC}). Sending
 * never raises SIGPIPE ({@code MSG_NOSIGNAL}): a closed peer is an EPIPE exception.
 *
 * <p>Threadsafe: {@link #sendMsg} and {@link #recvMsg} each serialize on their own message buffers
 * (so one thread may send while another receives); the other calls keep no state of their own.
 * {@link #close()} is idempotent; it does not wake a thread blocked in a receive on Linux, {@link
 * #shutdown} does.
 */
public final class UnixSocket implements AutoCloseable {

    /** {@link #shutdown} the reading half. */
    public static final int SHUT_RD = 0;
    /** {@link #shutdown} the writing half: the peer reads end-of-file. */
    public static final int SHUT_WR = 1;
    /** {@link #shutdown} both halves. */
    public static final int SHUT_RDWR = 2;
    /** The most fds one message can carry (the kernel's SCM_MAX_FD). */
    public static final int MAX_FDS_PER_MESSAGE = 253;

    /**
     * What one {@link #recvMsg} got. {@code bytes} is the count read, 0 at end-of-file, -1 if the
     * socket is non-blocking and nothing was there (EAGAIN); {@code fds} how many fds it stored in
     * the caller's array; {@code fdsClosed} how many more arrived than that array had room for,
     * which it closed. Immutable: any thread.
     */
    public record Received(long bytes, int fds, int fdsClosed) {
        static final Received AGAIN = new Received(-1, 0, 0);
    }

    private static final int AF_UNIX = 1;
    private static final int SOCK_STREAM = 1;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int MSG_CTRUNC = 0x8;
    private static final int MSG_NOSIGNAL = 0x4000;
    private static final int EADDRINUSE = 98;
    /** Numbers the staging names of listeners (any thread, atomic). */
    private static final AtomicLong STAGING = new AtomicLong();
    private static final int MSG_CMSG_CLOEXEC = 0x40000000;
    private static final int SOL_SOCKET = 1;
    private static final int SCM_RIGHTS = 1;
    private static final int SO_PEERCRED = 17;
    private static final int UCRED_SIZE = 12; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
    private static final int SO_RCVTIMEO = 20;
    private static final int SO_SNDTIMEO = 21;
    private static final int ECONNABORTED = 103;

    private static final VarHandle CLOSED;

    static {
        try {
            CLOSED = MethodHandles.lookup().findVarHandle(UnixSocket.class, "closed", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final int fd;
    /** The path this socket listens on (unlinked on close), or null. */
    private final Path boundPath;
    /** Set once by the closing thread (CAS). */
    @SuppressWarnings("unused")
    private volatile boolean closed;

    /** Guarded by itself: the sending thread's msghdr, iovec and control buffer. */
    private final Object sendLock = new Object();
    private MessageBuffer sendBuffer;
    /** Guarded by itself: the receiving thread's buffers, sized for {@code maxFds} fds. */
    private final Object recvLock = new Object();
    private MessageBuffer recvBuffer;
    private int maxFds = MAX_FDS_PER_MESSAGE;

    private UnixSocket(int fd, Path boundPath) {
        this.fd = fd;
        this.boundPath = boundPath;
    }

    /**
     * A msghdr with one iovec and room for {@code fds} fds of control data, allocated once per
     * socket and direction ({@code Arena.ofAuto()}: a receive still blocked when the socket is
     * closed keeps it alive).
     */
    private static final class MessageBuffer {
        final int fds;
        final long controlSpace;
        final MemorySegment msg;
        final MemorySegment iov;
        final MemorySegment control;

        MessageBuffer(int fds) {
            this.fds = fds;
            this.controlSpace = CStructs.Cmsghdr.space(4L * fds);
            MemorySegment all = Arena.ofAuto().allocate(CStructs.Msghdr.SIZE + CStructs.Iovec.SIZE + controlSpace, 8);
            msg = all.asSlice(0, CStructs.Msghdr.SIZE);
            iov = all.asSlice(CStructs.Msghdr.SIZE, CStructs.Iovec.SIZE);
            control = all.asSlice(CStructs.Msghdr.SIZE + CStructs.Iovec.SIZE, controlSpace);
        }

        /** Points msg at {@code data} and at {@code controlLen} bytes of control (none if 0). */
        void prepare(MemorySegment data, long controlLen) {
            msg.fill((byte) 0);
            iov.set(ADDRESS, CStructs.Iovec.BASE, data);
            iov.set(JAVA_LONG, CStructs.Iovec.LEN, data.byteSize());
            msg.set(ADDRESS, CStructs.Msghdr.IOV, iov);
            msg.set(JAVA_LONG, CStructs.Msghdr.IOVLEN, 1L);
            if (controlLen > 0) {
                msg.set(ADDRESS, CStructs.Msghdr.CONTROL, control);
                msg.set(JAVA_LONG, CStructs.Msghdr.CONTROLLEN, controlLen);
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Making sockets

    /**
     * Two connected sockets ({@code socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC)}). Context: any
     * thread.
     */
    public static UnixSocket[] pair() {
        Libc.Scratch s = Libc.scratch();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment sv = arena.allocate(JAVA_INT, 2);
            if (Libc.socketpair(s.state, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
                throw new NativeException("socketpair", "AF_UNIX, SOCK_STREAM", Libc.errno(s.state));
            }
            return new UnixSocket[] {
                new UnixSocket(sv.getAtIndex(JAVA_INT, 0), null),
                new UnixSocket(sv.getAtIndex(JAVA_INT, 1), null)
            };
        }
    }

    /**
     * A socket listening on {@code path} ({@code socket}, {@code bind}, {@code listen}). The path
     * must not exist (EADDRINUSE otherwise, even for a stale socket file: remove it first); {@link
     * #close()} removes it. The socket is bound and listening under a temporary name beside
     * {@code path} and then linked there, so a client that waits for the file to appear never finds
     * it refusing connections (between bind and listen). Context: any thread.
     *
     * @param path at most 107 bytes in UTF-8
     */
    public static UnixSocket listen(Path path, int backlog) {
        Path staging = path.resolveSibling(".mqb-" + ProcessHandle.current().pid() + "-" + STAGING.getAndIncrement());
        int fd = newSocket();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment addr = sockaddr(arena, staging);
            sockaddr(arena, path); // refuses a path too long before anything exists
            Libc.Scratch s = Libc.scratch();
            if (Libc.bind(s.state, fd, addr, (int) addr.byteSize()) < 0) {
                throw new NativeException("bind", "fd " + fd + ", " + staging, Libc.errno(s.state));
            }
            try {
                if (Libc.listen(s.state, fd, backlog) < 0) {
                    throw new NativeException("listen", "fd " + fd + ", " + staging, Libc.errno(s.state));
                }
                // link(2) refuses an existing path, as bind does: never replaces another listener's socket.
                try {
                    Files.createLink(path, staging);
                } catch (FileAlreadyExistsException e) {
                    throw new NativeException("bind", "fd " + fd + ", " + path, EADDRINUSE);
                } catch (IOException e) {
                    throw new UncheckedIOException("linking listener " + staging + " to " + path, e);
                }
            } finally {
                unlink(staging);
            }
            return new UnixSocket(fd, path);
        } catch (RuntimeException | Error e) {
            Fds.closeQuietly(fd);
            throw e;
        }
    }

    /**
     * A socket connected to the listener on {@code path}. Blocks while the listener's backlog is
     * full. Context: any thread.
     */
    public static UnixSocket connect(Path path) {
        int fd = newSocket();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment addr = sockaddr(arena, path);
            Libc.Scratch s = Libc.scratch();
            while (Libc.connect(s.state, fd, addr, (int) addr.byteSize()) < 0) {
                int errno = Libc.errno(s.state);
                if (errno == Libc.EISCONN) {
                    break; // an EINTR'd connect that completed meanwhile
                }
                if (errno != Libc.EINTR) {
                    throw new NativeException("connect", "fd " + fd + ", " + path, errno);
                }
            }
            return new UnixSocket(fd, null);
        } catch (RuntimeException | Error e) {
            Fds.closeQuietly(fd);
            throw e;
        }
    }

    /** Takes ownership of a Unix socket fd this process received. Context: any thread. */
    public static UnixSocket adopt(int fd) {
        if (!Fds.isOpen(fd)) {
            throw new NativeException("fcntl", "F_GETFD, fd " + fd, Libc.EBADF);
        }
        return new UnixSocket(fd, null);
    }

    private static int newSocket() {
        Libc.Scratch s = Libc.scratch();
        int fd = Libc.socket(s.state, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            throw new NativeException("socket", "AF_UNIX, SOCK_STREAM", Libc.errno(s.state));
        }
        return fd;
    }

    private static MemorySegment sockaddr(Arena arena, Path path) {
        byte[] bytes = path.toString().getBytes(StandardCharsets.UTF_8);
        if (bytes.length == 0 || bytes.length >= CStructs.SockaddrUn.PATH_CAPACITY) {
            throw new IllegalArgumentException("Unix socket path " + path + " is " + bytes.length
                    + " bytes; it must be 1 to " + (CStructs.SockaddrUn.PATH_CAPACITY - 1));
        }
        MemorySegment addr = arena.allocate(CStructs.SockaddrUn.PATH + bytes.length + 1, 2);
        addr.set(JAVA_SHORT, CStructs.SockaddrUn.FAMILY, (short) AF_UNIX);
        MemorySegment.copy(bytes, 0, addr, JAVA_BYTE, CStructs.SockaddrUn.PATH, bytes.length);
        return addr; // zero-filled by allocate, so the path ends with its NUL
    }

    private static void unlink(Path path) {
        try (Arena arena = Arena.ofConfined()) {
            Libc.unlink(Libc.scratch().state, arena.allocateFrom(path.toString()));
        }
    }

    // ---------------------------------------------------------------------------------------
    // Using them

    /** The file descriptor. Context: any thread. */
    public int fd() {
        return fd;
    }

    /**
     * Accepts a connection ({@code accept4(..., SOCK_CLOEXEC)}). Context: any thread.
     *
     * @return the connected socket, or null if this listener is non-blocking and none is pending
     */
    public UnixSocket accept() {
        Libc.Scratch s = Libc.scratch();
        while (true) {
            int c = Libc.accept4(s.state, fd, MemorySegment.NULL, MemorySegment.NULL, SOCK_CLOEXEC);
            if (c >= 0) {
                return new UnixSocket(c, null);
            }
            int errno = Libc.errno(s.state);
            if (errno == Libc.EAGAIN) {
                return null;
            }
            if (errno != Libc.EINTR && errno != ECONNABORTED) {
                throw new NativeException("accept4", "fd " + fd, errno);
            }
        }
    }

    /**
     * Sends bytes from {@code src}, a native segment; may send fewer than all (a stream socket).
     * Context: any thread.
     *
     * @return the bytes sent, or -1 if the socket is non-blocking and full (EAGAIN)
     * @throws NativeException EPIPE if the peer closed
     */
    public long send(MemorySegment src) {
        requireNative(src, "send");
        Libc.Scratch s = Libc.scratch();
        while (true) {
            long n = Libc.send(s.state, fd, src, src.byteSize(), MSG_NOSIGNAL);
            if (n >= 0) {
                return n;
            }
            int errno = Libc.errno(s.state);
            if (errno == Libc.EAGAIN) {
                return -1;
            }
            if (errno != Libc.EINTR) {
                throw new NativeException("send", "fd " + fd + ", " + src.byteSize() + " bytes", errno);
            }
        }
    }

    /**
     * Receives up to {@code dst.byteSize()} bytes into {@code dst}, a native segment. Context: any
     * thread.
     *
     * @return the bytes received, 0 at end-of-file, or -1 if the socket is non-blocking and empty
     */
    public long recv(MemorySegment dst) {
        requireNative(dst, "recv");
        Libc.Scratch s = Libc.scratch();
        while (true) {
            long n = Libc.recv(s.state, fd, dst, dst.byteSize(), 0);
            if (n >= 0) {
                return n;
            }
            int errno = Libc.errno(s.state);
            if (errno == Libc.EAGAIN) {
                return -1;
            }
            if (errno != Libc.EINTR) {
                throw new NativeException("recv", "fd " + fd + ", " + dst.byteSize() + " bytes", errno);
            }
        }
    }

    /**
     * Sends {@code data} with {@code fds} attached (SCM_RIGHTS): the peer's {@link #recvMsg} gets
     * its own copies of them with the first byte of {@code data}. If fewer bytes than all are sent,
     * the fds went with those; send the rest with {@link #send}. Our fds stay open. Context: any
     * thread.
     *
     * @param data a native segment of at least 1 byte (a stream socket carries fds only with data)
     * @param fds at most {@link #MAX_FDS_PER_MESSAGE}; none sends plain bytes
     * @return the bytes sent, or -1 if the socket is non-blocking and full (EAGAIN: nothing sent)
     */
    public long sendMsg(MemorySegment data, int... fds) {
        requireNative(data, "sendMsg");
        Objects.requireNonNull(fds, "fds");
        if (data.byteSize() == 0) {
            throw new IllegalArgumentException("sendMsg on fd " + fd
                    + ": a stream socket needs at least 1 byte of data to carry fds");
        }
        if (fds.length > MAX_FDS_PER_MESSAGE) {
            throw new IllegalArgumentException("sendMsg on fd " + fd + ": " + fds.length
                    + " fds, the kernel takes at most " + MAX_FDS_PER_MESSAGE + " per message");
        }
        synchronized (sendLock) {
            if (sendBuffer == null) {
                sendBuffer = new MessageBuffer(MAX_FDS_PER_MESSAGE);
            }
            MessageBuffer b = sendBuffer;
            long controlLen = fds.length == 0 ? 0 : CStructs.Cmsghdr.space(4L * fds.length);
            b.prepare(data, controlLen);
            if (fds.length > 0) {
                MemorySegment c = b.control;
                c.asSlice(0, controlLen).fill((byte) 0);
                c.set(JAVA_LONG, CStructs.Cmsghdr.LEN, CStructs.Cmsghdr.len(4L * fds.length));
                c.set(JAVA_INT, CStructs.Cmsghdr.LEVEL, SOL_SOCKET);
                c.set(JAVA_INT, CStructs.Cmsghdr.TYPE, SCM_RIGHTS);
                for (int i = 0; i < fds.length; i++) {
                    c.set(JAVA_INT, CStructs.Cmsghdr.DATA + 4L * i, fds[i]);
                }
            }
            Libc.Scratch s = Libc.scratch();
            while (true) {
                long n = Libc.sendmsg(s.state, fd, b.msg, MSG_NOSIGNAL);
                if (n >= 0) {
                    return n;
                }
                int errno = Libc.errno(s.state);
                if (errno == Libc.EAGAIN) {
                    return -1;
                }
                if (errno != Libc.EINTR) {
                    throw new NativeException("sendmsg", "fd " + fd + ", " + data.byteSize() + " bytes, "
                            + fds.length + " fds", errno);
                }
            }
        }
    }

    /**
     * Receives bytes into {@code data} and the fds that came with them into {@code fds}, in order,
     * from index 0. Fds beyond {@code fds.length} are closed at once (counted in {@link
     * Received#fdsClosed()}), so none leaks; received fds are close-on-exec. Context: any thread.
     *
     * @param data a native segment
     * @throws NativeException if the control data was truncated (MSG_CTRUNC: the sender attached
     *         more fds than {@link #setMaxFdsPerMessage} allows); the fds that did arrive are closed
     */
    public Received recvMsg(MemorySegment data, int[] fds) {
        requireNative(data, "recvMsg");
        Objects.requireNonNull(fds, "fds");
        synchronized (recvLock) {
            if (recvBuffer == null || recvBuffer.fds != maxFds) {
                recvBuffer = new MessageBuffer(maxFds);
            }
            MessageBuffer b = recvBuffer;
            b.prepare(data, b.controlSpace);
            Libc.Scratch s = Libc.scratch();
            long n;
            while ((n = Libc.recvmsg(s.state, fd, b.msg, MSG_CMSG_CLOEXEC)) < 0) {
                int errno = Libc.errno(s.state);
                if (errno == Libc.EAGAIN) {
                    return Received.AGAIN;
                }
                if (errno != Libc.EINTR) {
                    throw new NativeException("recvmsg", "fd " + fd + ", " + data.byteSize() + " bytes", errno);
                }
            }
            return takeFds(b, n, fds);
        }
    }

    /** Walks the control messages (CMSG_FIRSTHDR, CMSG_NXTHDR), keeping or closing each fd. */
    private Received takeFds(MessageBuffer b, long bytes, int[] fds) {
        long controlLen = b.msg.get(JAVA_LONG, CStructs.Msghdr.CONTROLLEN);
        int flags = b.msg.get(JAVA_INT, CStructs.Msghdr.FLAGS);
        int kept = 0;
        int closed = 0;
        long at = 0;
        while (at + CStructs.Cmsghdr.len(0) <= controlLen) {
            long len = b.control.get(JAVA_LONG, at + CStructs.Cmsghdr.LEN);
            if (len < CStructs.Cmsghdr.len(0) || at + len > controlLen) {
                break;
            }
            if (b.control.get(JAVA_INT, at + CStructs.Cmsghdr.LEVEL) == SOL_SOCKET
                    && b.control.get(JAVA_INT, at + CStructs.Cmsghdr.TYPE) == SCM_RIGHTS) {
                long count = (len - CStructs.Cmsghdr.len(0)) / 4;
                for (long i = 0; i < count; i++) {
                    int received = b.control.get(JAVA_INT, at + CStructs.Cmsghdr.DATA + 4 * i);
                    if (kept < fds.length) {
                        fds[kept++] = received;
                    } else {
                        Fds.closeQuietly(received);
                        closed++;
                    }
                }
            }
            at += CStructs.Cmsghdr.align(len);
        }
        if ((flags & MSG_CTRUNC) != 0) {
            for (int i = 0; i < kept; i++) {
                Fds.closeQuietly(fds[i]);
                fds[i] = -1;
            }
            throw new NativeException("recvmsg", "fd " + fd, "control data truncated (MSG_CTRUNC): the peer sent"
                    + " more fds than the " + b.fds + " this socket accepts per message, and the kernel dropped"
                    + " the rest; the " + (kept + closed) + " that arrived were closed");
        }
        return new Received(bytes, kept, closed);
    }

    /**
     * Sets how many fds one {@link #recvMsg} accepts from the kernel (default and most {@link
     * #MAX_FDS_PER_MESSAGE}): a message with more is an error (MSG_CTRUNC), so a protocol with a
     * known bound (vhost-user: 8 regions per SET_MEM_TABLE) can refuse a peer that exceeds it.
     * Context: any thread.
     */
    public void setMaxFdsPerMessage(int max) {
        if (max < 0 || max > MAX_FDS_PER_MESSAGE) {
            throw new IllegalArgumentException("max fds per message must be 0 to " + MAX_FDS_PER_MESSAGE + ", got " + max);
        }
        synchronized (recvLock) {
            maxFds = max;
        }
    }

    /**
     * Bounds how long one blocking receive ({@link #recv}, {@link #recvMsg}) waits ({@code
     * SO_RCVTIMEO}): when it expires with nothing read, the call returns its EAGAIN sentinel (-1,
     * {@code Received.bytes() == -1}) as on a non-blocking socket. 0 waits forever (the default).
     * The bound is per call, not per message: a peer that trickles a byte at a time is not cut
     * off by it. Context: any thread.
     *
     * @param millis 0 (no bound) or more
     */
    public void setReceiveTimeout(long millis) {
        setTimeout(SO_RCVTIMEO, "SO_RCVTIMEO", millis);
    }

    /**
     * Bounds how long one blocking send ({@link #send}, {@link #sendMsg}) waits for room ({@code
     * SO_SNDTIMEO}); on expiry with nothing sent it returns -1 (EAGAIN). 0 waits forever (the
     * default). Context: any thread.
     */
    public void setSendTimeout(long millis) {
        setTimeout(SO_SNDTIMEO, "SO_SNDTIMEO", millis);
    }

    /**
     * The process id of the peer of a connected socket, as it was when it connected or listened
     * ({@code SO_PEERCRED}): a vhost-user front-end learns which process serves it, to read that
     * backend's CPU time from /proc. Context: any thread.
     */
    public long peerPid() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cred = arena.allocate(UCRED_SIZE, 4);
            MemorySegment len = arena.allocate(JAVA_INT);
            len.set(JAVA_INT, 0, UCRED_SIZE);
            Libc.Scratch s = Libc.scratch();
            if (Libc.getsockopt(s.state, fd, SOL_SOCKET, SO_PEERCRED, cred, len) < 0) {
                throw new NativeException("getsockopt", "fd " + fd + ", SO_PEERCRED", Libc.errno(s.state));
            }
            return Integer.toUnsignedLong(cred.get(JAVA_INT, 0));
        }
    }

    private void setTimeout(int option, String name, long millis) {
        if (millis < 0) {
            throw new IllegalArgumentException(name + " on fd " + fd + ": timeout must be >= 0 ms, got " + millis);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment tv = arena.allocate(CStructs.Timeval.SIZE, 8);
            tv.set(JAVA_LONG, CStructs.Timeval.TV_SEC, millis / 1000);
            tv.set(JAVA_LONG, CStructs.Timeval.TV_USEC, (millis % 1000) * 1000);
            Libc.Scratch s = Libc.scratch();
            if (Libc.setsockopt(s.state, fd, SOL_SOCKET, option, tv, (int) CStructs.Timeval.SIZE) < 0) {
                throw new NativeException("setsockopt", "fd " + fd + ", " + name + " " + millis + " ms",
                        Libc.errno(s.state));
            }
        }
    }

    /** Makes calls on this socket return their EAGAIN sentinel instead of blocking, or block again. Context: any thread. */
    public void setNonBlocking(boolean nonBlocking) {
        Libc.Scratch s = Libc.scratch();
        int fl = Libc.fcntl(s.state, fd, Libc.F_GETFL, 0);
        if (fl < 0) {
            throw new NativeException("fcntl", "F_GETFL, fd " + fd, Libc.errno(s.state));
        }
        int want = nonBlocking ? fl | Libc.O_NONBLOCK : fl & ~Libc.O_NONBLOCK;
        if (want != fl && Libc.fcntl(s.state, fd, Libc.F_SETFL, want) < 0) {
            throw new NativeException("fcntl", "F_SETFL, fd " + fd, Libc.errno(s.state));
        }
    }

    /** Whether the socket is non-blocking. Context: any thread. */
    public boolean isNonBlocking() {
        Libc.Scratch s = Libc.scratch();
        int fl = Libc.fcntl(s.state, fd, Libc.F_GETFL, 0);
        if (fl < 0) {
            throw new NativeException("fcntl", "F_GETFL, fd " + fd, Libc.errno(s.state));
        }
        return (fl & Libc.O_NONBLOCK) != 0;
    }

    /** Shuts down one or both halves ({@link #SHUT_RD}, {@link #SHUT_WR}, {@link #SHUT_RDWR}). Context: any thread. */
    public void shutdown(int how) {
        Libc.Scratch s = Libc.scratch();
        if (Libc.shutdown(s.state, fd, how) < 0) {
            throw new NativeException("shutdown", "fd " + fd + ", how " + how, Libc.errno(s.state));
        }
    }

    /**
     * Closes the socket, and removes the path of a listener; later calls do nothing. Context: any
     * thread.
     */
    @Override
    public void close() {
        if (CLOSED.compareAndSet(this, false, true)) {
            try {
                Fds.close(fd, "socket");
            } finally {
                if (boundPath != null) {
                    unlink(boundPath);
                }
            }
        }
    }

    private void requireNative(MemorySegment seg, String call) {
        Objects.requireNonNull(seg, "segment");
        if (!seg.isNative()) {
            throw new IllegalArgumentException(call + " on fd " + fd
                    + ": the kernel needs a native segment (Arena.allocate), not a heap one");
        }
    }

    @Override
    public String toString() {
        return "UnixSocket[fd " + fd + (boundPath != null ? ", listening on " + boundPath : "") + "]";
    }
}
