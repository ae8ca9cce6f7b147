package org.mqblock.nativeio;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.file.Path;

/**
 * Open file description locks ({@code fcntl(F_OFD_SETLK)}, Linux 3.15+) on single bytes of a file,
 * as QEMU's file-posix takes them to say "I use this permission" and "I do not share it". Unlike
 * POSIX record locks, an OFD lock belongs to the open file description, not the process: two opens
 * in one process conflict, and closing some other fd of the same file drops nothing.
 *
 * <p>This class holds its own read-only fd of the file, so the image's I/O channel is untouched.
 * Only shared (read) locks are ever taken: a byte's lock means "someone claims this", and {@link
 * #heldByOthers} asks whether any other description has claimed it.
 *
 * <p>Threadsafe for distinct bytes; {@link #close()} (which drops every lock) is idempotent.
 */
public final class FileLocks implements AutoCloseable {

    private static final int O_RDONLY = 0;
    private static final int O_CLOEXEC = 0x80000;
    private static final int F_OFD_GETLK = 36;
    private static final int F_OFD_SETLK = 37;
    private static final short F_RDLCK = 0;
    private static final short F_WRLCK = 1;
    private static final short F_UNLCK = 2;
    private static final short SEEK_SET = 0;
    private static final int EACCES = 13;

    /** {@code struct flock { short l_type; short l_whence; off_t l_start; off_t l_len; pid_t l_pid; }}. */
    private static final class Flock {
        static final StructLayout LAYOUT = MemoryLayout.structLayout(
                JAVA_SHORT.withName("l_type"),
                JAVA_SHORT.withName("l_whence"),
                MemoryLayout.paddingLayout(4),
                JAVA_LONG.withName("l_start"),
                JAVA_LONG.withName("l_len"),
                JAVA_INT.withName("l_pid"),
                MemoryLayout.paddingLayout(4));
        static final long SIZE = LAYOUT.byteSize();
        static final long TYPE = LAYOUT.byteOffset(groupElement("l_type"));
        static final long WHENCE = LAYOUT.byteOffset(groupElement("l_whence"));
        static final long START = LAYOUT.byteOffset(groupElement("l_start"));
        static final long LEN = LAYOUT.byteOffset(groupElement("l_len"));
        static final long PID = LAYOUT.byteOffset(groupElement("l_pid"));

        static {
            CStructs.check(SIZE == 32, "flock", "size", SIZE, 32);
            CStructs.check(PID == 24, "flock", "offset of l_pid", PID, 24);
        }

        private Flock() {}
    }

    private static final VarHandle CLOSED;

    static {
        try {
            CLOSED = MethodHandles.lookup().findVarHandle(FileLocks.class, "closed", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final Path path;
    private final int fd;
    /** Set once by the closing thread (CAS). */
    @SuppressWarnings("unused")
    private volatile boolean closed;

    private FileLocks(Path path, int fd) {
        this.path = path;
        this.fd = fd;
    }

    /**
     * Opens {@code path} read-only for locking. Context: any thread.
     *
     * @throws NativeException naming the file if it cannot be opened
     */
    public static FileLocks open(Path path) {
        Libc.Scratch s = Libc.scratch();
        try (Arena arena = Arena.ofConfined()) {
            int fd = Libc.open(s.state, arena.allocateFrom(path.toString()), O_RDONLY | O_CLOEXEC, 0);
            if (fd < 0) {
                throw new NativeException("open", "\"" + path + "\", O_RDONLY", Libc.errno(s.state));
            }
            return new FileLocks(path, fd);
        }
    }

    /**
     * Takes a shared lock on byte {@code offset}; false if another description holds an
     * exclusive one there (never the case among users of this class). Context: any thread.
     */
    public boolean lockShared(long offset) {
        int r = fcntl(F_OFD_SETLK, F_RDLCK, offset);
        if (r < 0) {
            int errno = Libc.errno(Libc.scratch().state);
            if (errno == Libc.EAGAIN || errno == EACCES) {
                return false;
            }
            throw new NativeException("fcntl", "F_OFD_SETLK F_RDLCK byte " + offset + " of " + path, errno);
        }
        return true;
    }

    /** Drops this description's lock on byte {@code offset}, if any. Context: any thread. */
    public void unlock(long offset) {
        if (fcntl(F_OFD_SETLK, F_UNLCK, offset) < 0) {
            throw new NativeException("fcntl", "F_OFD_SETLK F_UNLCK byte " + offset + " of " + path,
                    Libc.errno(Libc.scratch().state));
        }
    }

    /**
     * Whether another open file description (in this process or another) holds a lock on byte
     * {@code offset}: {@code F_OFD_GETLK} asks whether an exclusive lock would conflict. Context:
     * any thread.
     */
    public boolean heldByOthers(long offset) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fl = flock(arena, F_WRLCK, offset);
            if (Libc.fcntlFlock(Libc.scratch().state, fd, F_OFD_GETLK, fl) < 0) {
                throw new NativeException("fcntl", "F_OFD_GETLK byte " + offset + " of " + path,
                        Libc.errno(Libc.scratch().state));
            }
            return fl.get(JAVA_SHORT, Flock.TYPE) != F_UNLCK;
        }
    }

    private int fcntl(int cmd, short type, long offset) {
        try (Arena arena = Arena.ofConfined()) {
            return Libc.fcntlFlock(Libc.scratch().state, fd, cmd, flock(arena, type, offset));
        }
    }

    private static MemorySegment flock(Arena arena, short type, long offset) {
        MemorySegment fl = arena.allocate(Flock.LAYOUT); // zeroed: l_pid must be 0 for OFD commands
        fl.set(JAVA_SHORT, Flock.TYPE, type);
        fl.set(JAVA_SHORT, Flock.WHENCE, SEEK_SET);
        fl.set(JAVA_LONG, Flock.START, offset);
        fl.set(JAVA_LONG, Flock.LEN, 1);
        return fl;
    }

    /** Closes the fd, dropping every lock it holds. Context: any thread; idempotent. */
    @Override
    public void close() {
        if (CLOSED.compareAndSet(this, false, true)) {
            Libc.close(Libc.scratch().state, fd);
        }
    }

    @Override
    public String toString() {
        return "FileLocks[" + path + ", fd " + fd + "]";
    }
}
