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
 * buffer: one syscall instead of one per segment, since Java has no positional {@code preadv}. Discard is ignored (QEMU's default {@code discard=ignore});
 * write-zeroes writes zeros. Resizing extends the file sparsely or truncates it.
 */
public final class FileDriver implements BlockDriver {

    private final Path path;
    private final FileChannel channel;
    private final boolean direct;
    private final int alignment;
    private final DriverCapabilities caps;
    /** Main loop writes (open, truncate in a drained section); any thread reads. */
    private volatile long length;

    private FileDriver(Path path, FileChannel channel, boolean direct, int alignment) throws IOException {
        this.path = path;
        this.channel = channel;
        this.direct = direct;
        this.alignment = alignment;
        this.caps = new DriverCapabilities(true, direct ? alignment : 512, 32 << 20, false, true);
        this.length = channel.size();
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
        try {
            return new FileDriver(path, FileChannel.open(path, opts), direct, alignment);
        } catch (IOException | UnsupportedOperationException e) {
            throw new IOException("cannot open image '" + path + "'" + (direct ? " with cache=none (O_DIRECT)" : "")
                    + ": " + e.getMessage(), e);
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

    @Override
    public void readBlocking(long offset, ByteBuffer dst) throws IOException {
        preadFully(channel, dst.duplicate(), offset);
    }

    /** Reads until {@code buf} is full; bytes past end-of-file read as zeros. */
    static void preadFully(FileChannel ch, ByteBuffer buf, long offset) throws IOException {
        long pos = offset;
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos);
            if (n < 0) {
                IoVector.zero(buf, buf.position(), buf.remaining());
                buf.position(buf.limit());
                return;
            }
            pos += n;
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

    /** The guest sees only EIO: the cause goes to stderr for the first few, the rest are counted. */
    private void reportFailure(BlockRequest r, Throwable cause) {
        long n = failures.incrementAndGet();
        if (n <= FAILURES_PRINTED) {
            Throwable c = cause instanceof java.io.UncheckedIOException u ? u.getCause() : cause;
            System.err.println("file " + path + ": " + r.op() + " of " + r.length() + " bytes at " + r.offset()
                    + " failed (EIO): " + c + (n == FAILURES_PRINTED ? " (later failures are only counted)" : ""));
        }
    }

    /** Requests that failed with EIO. Context: any thread. */
    public long failureCount() {
        return failures.get();
    }

    @Override
    public DriverQueue attach(AioContext ctx) {
        return new Queue(ctx);
    }

    @Override
    public void close() throws IOException {
        channel.close();
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
            r.queue().completeLater(r, BlockStatus.OK); // discard=ignore
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
                    default -> throw new IllegalStateException("not a worker operation: " + r.op());
                }
                return BlockStatus.OK;
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e); // -> EIO, cause kept in failure()
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
            } else {
                preadFully(channel, b.clear().limit(len), r.offset());
                iov.copyFrom(0, b, 0, len);
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
            ByteBuffer z = bounce(chunk).clear(); // a shorter request before may have left a shorter limit
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
            request = null;
            owner.free.addFirst(this);
            if (ret < 0) {
                reportFailure(r, failure());
            }
            r.queue().complete(r, ret < 0 ? BlockStatus.EIO : BlockStatus.OK);
        }
    }
}
