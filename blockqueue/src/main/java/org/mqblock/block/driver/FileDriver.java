package org.mqblock.block.driver;

import com.sun.nio.file.ExtendedOpenOption;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.HashSet;
import java.util.Set;
import org.mqblock.block.BlockRequest;
import org.mqblock.block.BlockStatus;
import org.mqblock.block.IoVector;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.ThreadPool;
import org.mqblock.nativeio.FileExtents;
import org.mqblock.nativeio.NativeException;

/**
 * A raw image in a real file ({@code file-posix} with {@code aio=threads}): every request is a
 * positional read or write ({@code pread}/{@code pwrite}) on a worker of the queue's context's
 * {@link ThreadPool}, completing back in the queue's context. Flush is {@code fdatasync}
 * ({@code force(false)}). With {@code cache=none} the file is opened {@code O_DIRECT}: requests
 * must be aligned to the file system's block size, and data in buffers that are not aligned goes
 * through an aligned bounce buffer, as QEMU does.
 *
 * <p>A request with one owned segment is zero-copy; one with several segments, or with memory it
 * shares with other threads (guest RAM), is gathered into (or scattered from) the request's bounce
 * buffer: one syscall instead of one per segment, since Java has no positional {@code preadv}.
 * Discard punches a hole ({@code fallocate(PUNCH_HOLE | KEEP_SIZE)}, QEMU's {@code discard=unmap}),
 * a no-op where the file system cannot; write-zeroes writes zeros. {@link #blockStatus} reports
 * data and holes from {@code lseek(SEEK_DATA / SEEK_HOLE)}. Resizing extends the file sparsely or
 * truncates it.
 *
 * <p>A failed request completes with the errno it failed with where the block layer has a name
 * for it ({@link #statusOf}): ENOSPC when the file system is full, EINVAL, ENOTSUP; EIO otherwise.
 */
public final class FileDriver implements BlockDriver {

    private final Path path;
    private final FileChannel channel;
    /** A second descriptor of the file, for hole punching and SEEK_DATA/SEEK_HOLE (threadsafe). */
    private final FileExtents extents;
    private final boolean direct;
    private final int alignment;
    private final DriverCapabilities caps;
    /** Main loop writes (open, truncate in a drained section); any thread reads. */
    private volatile long length;

    private FileDriver(Path path, FileChannel channel, FileExtents extents, boolean direct, int alignment, long length) {
        this.path = path;
        this.channel = channel;
        this.extents = extents;
        this.direct = direct;
        this.alignment = alignment;
        this.caps = new DriverCapabilities(true, direct ? alignment : 512, 32 << 20, true, true);
        this.length = length;
    }

    /**
     * Opens an existing image file.
     *
     * @param direct {@code cache=none}: bypass the page cache with {@code O_DIRECT}
     * @throws IOException naming the file if it cannot be opened (or O_DIRECT is not supported)
     */
    public static FileDriver open(Path path, boolean direct) throws IOException {
        if (!Files.isRegularFile(path)) {
            throw new IOException("image '" + path + "' does not exist or is not a regular file");
        }
        Set<OpenOption> opts = new HashSet<>(Set.of(StandardOpenOption.READ, StandardOpenOption.WRITE));
        int alignment = 512;
        if (direct) {
            opts.add(ExtendedOpenOption.DIRECT);
            alignment = (int) Math.max(512, Files.getFileStore(path).getBlockSize());
        }
        FileChannel ch;
        try {
            ch = FileChannel.open(path, opts);
        } catch (IOException | UnsupportedOperationException e) {
            throw new IOException("cannot open image '" + path + "'" + (direct ? " with cache=none (O_DIRECT)" : "")
                    + ": " + e.getMessage(), e);
        }
        try {
            return new FileDriver(path, ch, FileExtents.open(path, true), direct, alignment, ch.size());
        } catch (IOException | NativeException e) {
            ch.close();
            throw new IOException("cannot open image '" + path + "': " + e.getMessage(), e);
        }
    }

    /**
     * A driver for the image at {@code path} whose data goes through {@code data} instead of the
     * file itself, for tests that need the kernel to fail a write as a real disk would ({@code
     * /dev/full} answers every write with ENOSPC).
     */
    static FileDriver openWithDataChannel(Path path, FileChannel data, long length) throws IOException {
        try {
            return new FileDriver(path, data, FileExtents.open(path, true), false, 512, length);
        } catch (NativeException e) {
            throw new IOException("cannot open image '" + path + "': " + e.getMessage(), e);
        }
    }

    /** Creates (or truncates) a sparse raw image of {@code size} bytes. */
    public static void create(Path path, long size) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(path.toFile(), "rw")) {
            f.setLength(size);
        }
    }

    @Override
    public String format() {
        return "file";
    }

    @Override
    public long length() {
        return length;
    }

    @Override
    public DriverCapabilities capabilities() {
        return caps;
    }

    @Override
    public String filename() {
        return path.toString();
    }

    public boolean direct() {
        return direct;
    }

    @Override
    public void truncate(long newLength) throws IOException {
        if (newLength % caps.requestAlignment() != 0) {
            throw new IOException("size " + newLength + " is not a multiple of " + caps.requestAlignment());
        }
        if (newLength < channel.size()) {
            channel.truncate(newLength);
        } else {
            try (RandomAccessFile f = new RandomAccessFile(path.toFile(), "rw")) {
                f.setLength(newLength); // sparse
            }
        }
        length = newLength;
    }

    @Override
    public void flushBlocking() throws IOException {
        channel.force(false);
    }

    /** Per worker thread: an aligned buffer for {@link #readBlocking} with cache=none. */
    private static final ThreadLocal<ByteBuffer> BLOCKING_BOUNCE = new ThreadLocal<>();
    private static final int BLOCKING_CHUNK = 1 << 20;

    /**
     * Reads for an overlay (its backing image) from a worker thread. With cache=none, what O_DIRECT
     * cannot take (an offset, a length or memory not aligned to the file system's block, as a
     * backing read into an overlay's cluster buffer is) goes through an aligned bounce buffer of
     * the worker's, in chunks, so no length is refused; bytes past end-of-file read as zeros.
     */
    @Override
    public void readBlocking(long offset, ByteBuffer dst) throws IOException {
        ByteBuffer d = dst.duplicate();
        if (!direct || (d.isDirect() && d.alignmentOffset(d.position(), alignment) == 0
                && (offset | d.remaining()) % alignment == 0)) {
            preadFully(channel, d, offset);
            return;
        }
        ByteBuffer b = BLOCKING_BOUNCE.get();
        if (b == null || b.alignmentOffset(0, alignment) != 0) {
            b = ByteBuffer.allocateDirect(BLOCKING_CHUNK + alignment).alignedSlice(alignment);
            BLOCKING_BOUNCE.set(b);
        }
        long pos = offset;
        while (d.hasRemaining()) {
            long start = pos & -alignment;
            int skip = (int) (pos - start);
            int want = Math.min(d.remaining(), BLOCKING_CHUNK - skip);
            int n = (int) (((skip + want) + alignment - 1) & -alignment);
            preadFully(channel, b.clear().limit(n), start);
            d.put(b.clear().position(skip).limit(skip + want));
            pos += want;
        }
    }

    /**
     * The run at {@code offset} as the file system has it: data up to the next hole, or a hole
     * (reading as zeros) up to the next data, from {@code lseek(SEEK_DATA / SEEK_HOLE)}.
     */
    @Override
    public long blockStatus(long offset, long length) throws IOException {
        long size = this.length;
        long limit = Math.min(length, size - offset);
        if (limit <= 0) {
            throw new IOException("block status at " + offset + " of '" + path + "', which has " + size + " bytes");
        }
        try {
            long data = extents.nextData(offset);
            if (data == offset) {
                long hole = extents.nextHole(offset);
                long run = hole < 0 ? limit : Math.min(limit, hole - offset);
                return BlockDriver.status(Math.max(1, run), 0);
            }
            long run = data < 0 ? limit : Math.min(limit, data - offset);
            return BlockDriver.status(Math.max(1, run), STATUS_HOLE | STATUS_ZERO);
        } catch (NativeException e) {
            throw new IOException("block status of '" + path + "' at " + offset + ": " + e.getMessage(), e);
        }
    }

    /**
     * The block-layer status for a failed request: the errno where the block layer has a name for
     * it (ENOSPC for a full file system or quota, EINVAL, ENOTSUP), EIO for everything else.
     * A {@link NativeException} carries its errno; a {@code FileChannel}'s IOException carries only
     * libc's description of it, which is what is matched (the JVM reports it in English under the
     * C and en locales).
     */
    static int statusOf(Throwable failure) {
        Throwable c = failure instanceof java.io.UncheckedIOException u ? u.getCause() : failure;
        if (c instanceof NativeException n) {
            return switch (n.errno()) {
                case 28, 122 -> BlockStatus.ENOSPC; // ENOSPC, EDQUOT
                case 22 -> BlockStatus.EINVAL;
                case 95 -> BlockStatus.ENOTSUP; // EOPNOTSUPP
                default -> BlockStatus.EIO;
            };
        }
        String m = c == null ? null : c.getMessage();
        if (c instanceof IOException && m != null) {
            if (m.contains("No space left on device") || m.contains("Disk quota exceeded")) {
                return BlockStatus.ENOSPC;
            }
            if (m.contains("Invalid argument")) {
                return BlockStatus.EINVAL;
            }
            if (m.contains("Operation not supported")) {
                return BlockStatus.ENOTSUP;
            }
        }
        return BlockStatus.EIO;
    }

    /**
     * Reads until {@code buf} is full; bytes past end-of-file read as zeros. A short read is
     * end-of-file when the file ends there; the zeros are filled in without another read, which
     * O_DIRECT would refuse at the unaligned end.
     */
    static void preadFully(FileChannel ch, ByteBuffer buf, long offset) throws IOException {
        long pos = offset;
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos);
            if (n > 0) {
                pos += n;
            }
            if (n < 0 || (buf.hasRemaining() && pos >= ch.size())) {
                IoVector.zero(buf, buf.position(), buf.remaining());
                buf.position(buf.limit());
                return;
            }
        }
    }

    static void pwriteFully(FileChannel ch, ByteBuffer buf, long offset) throws IOException {
        long pos = offset;
        while (buf.hasRemaining()) {
            pos += ch.write(buf, pos);
        }
    }

    /** Failed requests so far; any queue's thread adds (atomic). The first few are printed with their cause. */
    private final java.util.concurrent.atomic.AtomicLong failures = new java.util.concurrent.atomic.AtomicLong();
    private static final int FAILURES_PRINTED = 10;

    /** The guest sees only a status: the cause goes to stderr for the first few, the rest are counted. */
    private void reportFailure(BlockRequest r, int status, Throwable cause) {
        long n = failures.incrementAndGet();
        if (n <= FAILURES_PRINTED) {
            Throwable c = cause instanceof java.io.UncheckedIOException u ? u.getCause() : cause;
            System.err.println("file " + path + ": " + r.op() + " of " + r.length() + " bytes at " + r.offset()
                    + " failed (" + BlockStatus.name(status) + "): " + c
                    + (n == FAILURES_PRINTED ? " (later failures are only counted)" : ""));
        }
    }

    /** Requests that failed. Context: any thread. */
    public long failureCount() {
        return failures.get();
    }

    @Override
    public DriverQueue attach(AioContext ctx) {
        return new Queue(ctx);
    }

    @Override
    public void close() throws IOException {
        try {
            channel.close();
        } finally {
            extents.close();
        }
    }

    @Override
    public String toString() {
        return "FileDriver[" + path + (direct ? ", cache=none" : "") + "]";
    }

    /** Per-queue state: the context's thread pool and a free list of preallocated work items. */
    private final class Queue implements DriverQueue {
        private final AioContext ctx;
        // The queue's context thread only.
        private final ArrayDeque<FileIo> free = new ArrayDeque<>();

        Queue(AioContext ctx) {
            this.ctx = ctx;
        }

        private void start(BlockRequest r) {
            FileIo io = free.pollFirst();
            if (io == null) {
                io = new FileIo(this);
            }
            io.request = r;
            ctx.threadPool().submit(io);
        }

        @Override
        public void readv(BlockRequest r) {
            start(r);
        }

        @Override
        public void writev(BlockRequest r) {
            start(r);
        }

        @Override
        public void flush(BlockRequest r) {
            start(r);
        }

        @Override
        public void discard(BlockRequest r) {
            start(r); // fallocate may block: a worker's job
        }

        @Override
        public void writeZeroes(BlockRequest r) {
            start(r);
        }

        @Override
        public void detach() {
            free.clear();
        }
    }

    /** One request's trip to a worker; reused through the queue's free list. */
    private final class FileIo extends ThreadPool.Request {
        private final Queue owner;
        /** Context thread writes before submit; the worker reads after (ordered by the pool's lock). */
        BlockRequest request;
        /** Worker only (one request at a time): aligned bounce buffer, grown on demand. */
        private ByteBuffer bounce;
        /** Worker writes, the context reads in complete() (ordered by the pool's hand-back). */
        private Throwable cause;

        FileIo(Queue owner) {
            this.owner = owner;
        }

        @Override
        protected int run() {
            BlockRequest r = request;
            try {
                switch (r.op()) {
                    case READ -> transfer(r, false);
                    case WRITE -> transfer(r, true);
                    case FLUSH -> channel.force(false);
                    case WRITE_ZEROES -> writeZeroes(r.offset(), r.length());
                    case DISCARD -> discard(r.offset(), r.length());
                }
                return BlockStatus.OK;
            } catch (IOException | NativeException e) {
                cause = e;
                return statusOf(e);
            }
        }

        private void discard(long offset, long len) {
            try {
                extents.punchHole(offset, len);
            } catch (NativeException e) {
                if (e.errno() != 95) { // EOPNOTSUPP: a file system without holes keeps the data; discard is advisory
                    throw e;
                }
            }
        }

        private void transfer(BlockRequest r, boolean write) throws IOException {
            IoVector iov = r.iov();
            if (iov.count() == 1 && iov.isOwned(0) && usableDirectly(iov.buffer(0), iov.index(0), iov.length(0))) {
                ByteBuffer seg = iov.buffer(0);
                int pos = seg.position();
                int lim = seg.limit();
                seg.limit(iov.index(0) + iov.length(0)).position(iov.index(0));
                try {
                    if (write) {
                        pwriteFully(channel, seg, r.offset());
                        keepLength(r);
                    } else {
                        preadFully(channel, seg, r.offset());
                    }
                } finally {
                    seg.limit(lim).position(pos);
                }
                return;
            }
            int len = (int) r.length();
            ByteBuffer b = bounce(len).clear(); // the last request left its limit, which absolute puts check against
            if (write) {
                iov.copyTo(0, b, 0, len);
                pwriteFully(channel, b.clear().limit(len), r.offset());
                keepLength(r);
            } else {
                preadFully(channel, b.clear().limit(len), r.offset());
                iov.copyFrom(0, b, 0, len);
            }
        }

        /**
         * A padded write of the last, partial block of a file whose size is not a multiple of the
         * alignment wrote past the end: cut the file back to its size. The block layer serialises
         * writes to that block, so no other write of it runs meanwhile.
         */
        private void keepLength(BlockRequest r) throws IOException {
            long size = length;
            if (r.offset() + r.length() > size) {
                channel.truncate(size);
            }
        }

        private boolean usableDirectly(ByteBuffer buf, int index, int length) {
            if (!direct) {
                return true;
            }
            return buf.isDirect() && buf.alignmentOffset(index, alignment) == 0 && length % alignment == 0;
        }

        private ByteBuffer bounce(int len) {
            if (bounce == null || bounce.capacity() < len) {
                bounce = ByteBuffer.allocateDirect(len + alignment).alignedSlice(alignment);
            }
            return bounce;
        }

        private void writeZeroes(long offset, long length) throws IOException {
            int chunk = (int) Math.min(length, 1 << 20);
            ByteBuffer z = bounce(chunk).clear(); // a transfer before left its limit, which absolute puts check
            IoVector.zero(z, 0, chunk);
            long done = 0;
            while (done < length) {
                int n = (int) Math.min(chunk, length - done);
                pwriteFully(channel, z.clear().limit(n), offset + done);
                done += n;
            }
        }

        @Override
        protected void complete(int ret) {
            BlockRequest r = request;
            Throwable why = cause != null ? cause : failure();
            request = null;
            cause = null;
            owner.free.addFirst(this);
            if (ret < 0) {
                reportFailure(r, ret, why);
            }
            r.queue().complete(r, ret < 0 ? ret : BlockStatus.OK);
        }
    }
}
