package org.mqblock.block.driver;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import org.mqblock.block.BlockRequest;
import org.mqblock.block.BlockStatus;
import org.mqblock.block.IoVector;
import org.mqblock.core.loop.AioContext;

/**
 * An off-heap RAM disk, the embedded default backend: the data lives in direct buffers of up to
 * 1 GiB each (so a disk can be many GiB), copied in and out in the queue's own thread, which is
 * what a RAM-backed device costs. Completions come from the queue's completion bottom half, a
 * batch per loop iteration. Multiqueue-safe: queues touch disjoint bytes unless the guest races
 * itself, as on real hardware.
 *
 * <p>Resizing keeps the data below the smaller of the old and new sizes; new bytes read as zero.
 *
 * <h2>Allocation map</h2>
 * The RAM is all allocated up front, but which {@value #GRANULE_BITS}-bit granules (64 KiB) were
 * ever written is tracked, one bit each: {@link #blockStatus} reports the others as holes that read
 * as zeros, as a thin image reports its unallocated clusters, so {@code qemu-img map} and {@code
 * nbdinfo --map} see where data is. A discard that covers whole granules makes them holes again;
 * write-zeroes leaves them data (the client may have asked for no hole).
 */
public final class MemoryDriver implements BlockDriver {

    static final int CHUNK_BITS = 30;
    private static final int CHUNK = 1 << CHUNK_BITS;

    private final DriverCapabilities caps = new DriverCapabilities(true, 512, 32 << 20, true, true);
    /** Main loop writes (truncate, drained: then no queue touches them); any thread reads. */
    private volatile ByteBuffer[] chunks;
    private volatile long length;

    static final int GRANULE_BITS = 16;
    private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);
    /**
     * Bit i: granule i was written. Set by any queue's thread with getAndBitwiseOr (release, after
     * a plain read shows it clear), cleared by discards with getAndBitwiseAnd; {@link #blockStatus}
     * reads with getAcquire. The array is replaced by the main loop (truncate, drained).
     */
    private volatile long[] written;

    public MemoryDriver(long length) {
        if (length < 0) {
            throw new IllegalArgumentException("size must be >= 0, got " + length);
        }
        this.chunks = allocate(length, new ByteBuffer[0], 0);
        this.written = new long[words(length)];
        this.length = length;
    }

    private static int words(long length) {
        long granules = (length + (1L << GRANULE_BITS) - 1) >>> GRANULE_BITS;
        return (int) ((granules + 63) >>> 6);
    }

    private static ByteBuffer[] allocate(long length, ByteBuffer[] old, long oldLength) {
        int n = (int) ((length + CHUNK - 1) >>> CHUNK_BITS);
        ByteBuffer[] c = new ByteBuffer[n];
        for (int i = 0; i < n; i++) {
            int size = (int) Math.min(CHUNK, length - ((long) i << CHUNK_BITS));
            c[i] = ByteBuffer.allocateDirect(size);
            if (i < old.length) {
                int keep = (int) Math.min(size, Math.min(old[i].capacity(), oldLength - ((long) i << CHUNK_BITS)));
                if (keep > 0) {
                    c[i].put(0, old[i], 0, keep);
                }
            }
        }
        return c;
    }

    @Override
    public String format() {
        return "memory";
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
    public void truncate(long newLength) {
        chunks = allocate(newLength, chunks, length);
        long[] w = java.util.Arrays.copyOf(written, words(newLength));
        long keep = Math.min(length, newLength);
        long firstNew = (keep + (1L << GRANULE_BITS) - 1) >>> GRANULE_BITS; // a partial last granule stays data
        for (long g = firstNew; g < (long) w.length << 6; g++) {
            w[(int) (g >>> 6)] &= ~(1L << g);
        }
        written = w;
        length = newLength;
    }

    @Override
    public long blockStatus(long offset, long length) {
        long[] w = written;
        long end = Math.min(offset + length, this.length);
        if (offset >= end) {
            return BlockDriver.status(length, STATUS_HOLE | STATUS_ZERO); // past the end reads as zeros
        }
        long g = offset >>> GRANULE_BITS;
        boolean data = isWritten(w, g);
        long runEnd = (g + 1) << GRANULE_BITS;
        while (runEnd < end && isWritten(w, runEnd >>> GRANULE_BITS) == data) {
            runEnd += 1L << GRANULE_BITS;
        }
        return BlockDriver.status(Math.min(runEnd, end) - offset, data ? 0 : STATUS_HOLE | STATUS_ZERO);
    }

    private static boolean isWritten(long[] w, long granule) {
        return ((long) WORDS.getAcquire(w, (int) (granule >>> 6)) & (1L << granule)) != 0;
    }

    /** Marks the granules under {@code [offset, offset + length)} written. */
    private void markWritten(long offset, long length) {
        if (length == 0) {
            return;
        }
        long[] w = written;
        for (long g = offset >>> GRANULE_BITS, last = (offset + length - 1) >>> GRANULE_BITS; g <= last; g++) {
            int i = (int) (g >>> 6);
            long bit = 1L << g;
            if (((long) WORDS.getOpaque(w, i) & bit) == 0) { // the common case, a rewrite, stores nothing
                WORDS.getAndBitwiseOrRelease(w, i, bit);
            }
        }
    }

    /** Marks the granules wholly inside {@code [offset, offset + length)} holes again. */
    private void markDiscarded(long offset, long length) {
        long[] w = written;
        long first = (offset + (1L << GRANULE_BITS) - 1) >>> GRANULE_BITS;
        long end = offset + length;
        long last = end == this.length ? (end + (1L << GRANULE_BITS) - 1) >>> GRANULE_BITS : end >>> GRANULE_BITS;
        for (long g = first; g < last; g++) {
            WORDS.getAndBitwiseAndRelease(w, (int) (g >>> 6), ~(1L << g));
        }
    }

    /** Copies {@code length} bytes at {@code offset} into {@code iov} (from its byte 0). */
    void read(long offset, IoVector iov, long length) {
        transfer(offset, iov, length, READ);
    }

    /** Copies {@code length} bytes of {@code iov} (from its byte 0) to {@code offset}. */
    void write(long offset, IoVector iov, long length) {
        markWritten(offset, length); // before the data: a racing status may say data too early, never hole too late
        transfer(offset, iov, length, WRITE);
    }

    void zero(long offset, long length) {
        transfer(offset, null, length, ZERO);
    }

    /** Zeroes the range and makes the granules it covers wholly holes again. */
    void discard(long offset, long length) {
        zero(offset, length);
        markDiscarded(offset, length);
    }

    private static final int READ = 0;
    private static final int WRITE = 1;
    private static final int ZERO = 2;

    /** Walks the chunks under {@code [offset, offset + length)} doing {@code op} on each piece. */
    private void transfer(long offset, IoVector iov, long length, int op) {
        ByteBuffer[] c = chunks;
        long done = 0;
        while (done < length) {
            long pos = offset + done;
            ByteBuffer chunk = c[(int) (pos >>> CHUNK_BITS)];
            int within = (int) (pos & (CHUNK - 1));
            int n = (int) Math.min(length - done, CHUNK - within);
            switch (op) {
                case READ -> iov.copyFrom(done, chunk, within, n);
                case WRITE -> iov.copyTo(done, chunk, within, n);
                default -> IoVector.zero(chunk, within, n);
            }
            done += n;
        }
    }

    @Override
    public void readBlocking(long offset, ByteBuffer dst) {
        int want = dst.remaining();
        int inRange = (int) Math.max(0, Math.min(want, length - offset));
        if (inRange > 0) {
            read(offset, IoVector.of(dst.duplicate().limit(dst.position() + inRange)), inRange);
        }
        IoVector.zero(dst, dst.position() + inRange, want - inRange);
    }

    @Override
    public DriverQueue attach(AioContext ctx) {
        return new Queue();
    }

    @Override
    public void close() {
        chunks = new ByteBuffer[0]; // direct memory goes back with the buffers
    }

    private final class Queue implements DriverQueue {
        @Override
        public void readv(BlockRequest r) {
            read(r.offset(), r.iov(), r.length());
            r.queue().completeLater(r, BlockStatus.OK);
        }

        @Override
        public void writev(BlockRequest r) {
            write(r.offset(), r.iov(), r.length());
            r.queue().completeLater(r, BlockStatus.OK);
        }

        @Override
        public void flush(BlockRequest r) {
            r.queue().completeLater(r, BlockStatus.OK);
        }

        @Override
        public void discard(BlockRequest r) {
            MemoryDriver.this.discard(r.offset(), r.length()); // a RAM disk frees nothing, but reads back zeros like a thin-provisioned disk
            r.queue().completeLater(r, BlockStatus.OK);
        }

        @Override
        public void writeZeroes(BlockRequest r) {
            zero(r.offset(), r.length());
            r.queue().completeLater(r, BlockStatus.OK);
        }

        @Override
        public void detach() {}
    }
}
