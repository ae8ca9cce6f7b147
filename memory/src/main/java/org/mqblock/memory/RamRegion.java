package org.mqblock.memory;

import static org.mqblock.memory.TargetPage.TARGET_PAGE_BITS;
import static org.mqblock.memory.TargetPage.TARGET_PAGE_SIZE;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Objects;
import org.agrona.BufferUtil;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * Guest RAM: off-heap memory of any size, read and written as little-endian integers of 1 to 8
 * bytes or in bulk, with every write marking its pages in the dirty bitmap of each client whose
 * log is active ({@code memory_region_init_ram} with a RAMBlock and its {@code dirty_memory}).
 *
 * <h2>Memory</h2>
 * An Agrona {@link UnsafeBuffer} is indexed by {@code int}, so a region of several GiB is split
 * into chunks of {@code 2^chunkBits} bytes (2 MiB by default, configurable from a page to 1 GiB),
 * each a page-aligned direct {@link ByteBuffer} wrapped by an {@code UnsafeBuffer}. Chunks are
 * populated on first write or map, zero-filled, like the anonymous mapping behind QEMU's guest RAM
 * (so a 64 GiB region whose guest touches 10 MiB costs 10 MiB); reading a chunk never written
 * gives zeros without populating it. {@code prealloc} populates everything up front (QEMU's
 * {@code prealloc=on}), so that running out of memory shows at creation rather than at a guest
 * write. Guest RAM is direct memory: {@code -XX:MaxDirectMemorySize} must cover what is populated.
 *
 * <p>Accessors take a chunk with one acquire load and use its {@code UnsafeBuffer}; an access of
 * 2 to 8 bytes that straddles two chunks falls back to byte-wise access (correct, not atomic). Bulk
 * copies go a chunk segment at a time. Within a chunk, an aligned access of up to 8 bytes is
 * single-copy atomic, as guest RAM is on x86-64 hosts.
 *
 * <h2>Dirty logging</h2>
 * One {@link DirtyBitmap} per {@link DirtyClient}, allocated with the region. Each write, after
 * storing its data, reads the active-clients mask (one volatile load); only if a client is active
 * does it mark the pages it touched in each active client's bitmap (an RMW per word with a bit to
 * set, and at most one fence for the whole write, paid only to skip words already dirty). See
 * {@link DirtyBitmap} for why a consumer that takes a bit sees the data. A write racing with {@link
 * #startDirtyLog} may miss the log; the starter closes that window with a grace period of the
 * {@link WriteGate} of the address spaces the region is mapped in ({@link LiveMigration} does).
 *
 * <h2>Lifetime</h2>
 * {@link #close()} frees the memory; it is idempotent, and any access afterwards fails with an
 * {@link IllegalStateException} naming the region. Closing is refused while the region is mapped
 * in an address space, and must not overlap accesses in flight (QEMU defers the free with RCU;
 * here the owner closes after unmapping and after the devices that used the region are stopped).
 *
 * <p>Thread-safe: any number of threads may access the region concurrently; concurrent writes
 * to the same bytes race as they would on real RAM.
 */
public final class RamRegion extends MemoryRegion implements AutoCloseable {

    /** 2 MiB chunks: a huge page's worth, so first-touch zeroing stays sub-millisecond. */
    public static final int DEFAULT_CHUNK_BITS = 21;
    public static final int MIN_CHUNK_BITS = TARGET_PAGE_BITS;
    public static final int MAX_CHUNK_BITS = 30;

    private static final VarHandle CHUNKS = MethodHandles.arrayElementVarHandle(UnsafeBuffer[].class);
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final byte[] ZEROS = new byte[TARGET_PAGE_SIZE];

    private final int chunkBits;
    private final int chunkSize;
    private final int chunkMask;

    /**
     * Chunk {@code i}'s memory, or null while not populated (and after close). Written under
     * {@link #populateLock} with release stores; read by any thread with an acquire load.
     */
    private final UnsafeBuffer[] chunks;
    /** The allocation behind each chunk, kept to free it. Written and read under {@link #populateLock} only. */
    private final ByteBuffer[] allocations;
    private final Object populateLock = new Object();

    /** Set once by close under {@link #populateLock} (volatile); read by the slow paths. */
    private volatile boolean closed;
    /** Populated chunks; written under {@link #populateLock} (volatile), read by any thread. */
    private volatile int populated;
    /** Address spaces this region is mapped in; changed under {@link #populateLock} (volatile). */
    private volatile int mappedIn;

    /**
     * Active dirty clients as {@link DirtyClient#bit()}s. Written by the main loop under this
     * region's monitor (volatile store); read by every write (volatile load).
     */
    private volatile int dirtyLogMask;
    /** One bitmap per client, indexed by ordinal. Final; the bitmaps are lock-free. */
    private final DirtyBitmap[] bitmaps;

    /** A lazily populated region with 2 MiB chunks. Context: any thread. */
    public RamRegion(String name, long size) {
        this(name, size, DEFAULT_CHUNK_BITS, false);
    }

    /**
     * A region of {@code size} bytes, zero-filled. Context: any thread.
     *
     * @param size a positive multiple of the page size
     * @param chunkBits log2 of the chunk size, {@value #MIN_CHUNK_BITS} to {@value #MAX_CHUNK_BITS}
     * @param prealloc populate (allocate and zero) every chunk now
     * @throws OutOfMemoryError with prealloc, when direct memory does not cover {@code size}
     */
    public RamRegion(String name, long size, int chunkBits, boolean prealloc) {
        super(name, size);
        if (!TargetPage.isAligned(size)) {
            throw new IllegalArgumentException("RAM region '" + name + "': size " + Hex.of(size)
                    + " is not a multiple of the " + TARGET_PAGE_SIZE + "-byte page");
        }
        if (chunkBits < MIN_CHUNK_BITS || chunkBits > MAX_CHUNK_BITS) {
            throw new IllegalArgumentException("RAM region '" + name + "': chunkBits " + chunkBits
                    + " outside [" + MIN_CHUNK_BITS + ", " + MAX_CHUNK_BITS + "]");
        }
        long nchunks = ((size - 1) >>> chunkBits) + 1;
        if (nchunks > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("RAM region '" + name + "': " + nchunks + " chunks; use larger chunks");
        }
        this.chunkBits = chunkBits;
        this.chunkSize = 1 << chunkBits;
        this.chunkMask = chunkSize - 1;
        this.chunks = new UnsafeBuffer[(int) nchunks];
        this.allocations = new ByteBuffer[(int) nchunks];
        this.bitmaps = new DirtyBitmap[DirtyClient.count()];
        for (int c = 0; c < bitmaps.length; c++) {
            bitmaps[c] = new DirtyBitmap(size >>> TARGET_PAGE_BITS);
        }
        if (prealloc) {
            try {
                for (int i = 0; i < chunks.length; i++) {
                    populate(i);
                }
            } catch (RuntimeException | Error e) {
                close();
                throw e;
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Chunks

    private UnsafeBuffer chunkForRead(long offset) {
        return (UnsafeBuffer) CHUNKS.getAcquire(chunks, (int) (offset >>> chunkBits));
    }

    private UnsafeBuffer chunkForWrite(long offset) {
        int i = (int) (offset >>> chunkBits);
        UnsafeBuffer c = (UnsafeBuffer) CHUNKS.getAcquire(chunks, i);
        return c != null ? c : populate(i);
    }

    private int inChunk(long offset) {
        return (int) offset & chunkMask;
    }

    /** Allocates and publishes chunk {@code i} (slow path, once per chunk). */
    private UnsafeBuffer populate(int i) {
        synchronized (populateLock) {
            UnsafeBuffer c = chunks[i];
            if (c != null) {
                return c;
            }
            ensureOpen();
            long start = (long) i << chunkBits;
            int len = (int) Math.min(chunkSize, size() - start);
            ByteBuffer raw;
            try {
                raw = ByteBuffer.allocateDirect(len + TARGET_PAGE_SIZE); // zero-filled
            } catch (OutOfMemoryError e) {
                OutOfMemoryError oom = new OutOfMemoryError("RAM region '" + name() + "': cannot populate "
                        + len + " bytes at offset " + Hex.of(start) + " (" + e.getMessage()
                        + "); guest RAM is direct memory: raise -XX:MaxDirectMemorySize");
                oom.initCause(e);
                throw oom;
            }
            ByteBuffer aligned = raw.alignedSlice(TARGET_PAGE_SIZE);
            c = new UnsafeBuffer(aligned, 0, len);
            allocations[i] = raw;
            CHUNKS.setRelease(chunks, i, c);
            populated = populated + 1;
            return c;
        }
    }

    /** A read found no chunk: zeros, unless the region is closed. */
    private void absentChunk() {
        if (closed) {
            throw closedException();
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw closedException();
        }
    }

    private IllegalStateException closedException() {
        return new IllegalStateException("RAM region '" + name() + "' is closed");
    }

    // ---------------------------------------------------------------------------------------
    // Scalar accessors (ldub_p, lduw_le_p, ldl_le_p, ldq_le_p and the st*_le_p stores)

    /** Context: any thread. */
    public int getU8(long offset) {
        checkAccess(offset, 1);
        UnsafeBuffer c = chunkForRead(offset);
        if (c == null) {
            absentChunk();
            return 0;
        }
        return c.getByte(inChunk(offset)) & 0xff;
    }

    /** Context: any thread. */
    public int getU16(long offset) {
        checkAccess(offset, 2);
        int co = inChunk(offset);
        if (co > chunkSize - 2) {
            return (int) getStraddling(offset, 2);
        }
        UnsafeBuffer c = chunkForRead(offset);
        if (c == null) {
            absentChunk();
            return 0;
        }
        return c.getShort(co, LE) & 0xffff;
    }

    /** The 32 bits, as an {@code int} (use {@link Integer#toUnsignedLong} for the value). Context: any thread. */
    public int getU32(long offset) {
        checkAccess(offset, 4);
        int co = inChunk(offset);
        if (co > chunkSize - 4) {
            return (int) getStraddling(offset, 4);
        }
        UnsafeBuffer c = chunkForRead(offset);
        if (c == null) {
            absentChunk();
            return 0;
        }
        return c.getInt(co, LE);
    }

    /** Context: any thread. */
    public long getU64(long offset) {
        checkAccess(offset, 8);
        int co = inChunk(offset);
        if (co > chunkSize - 8) {
            return getStraddling(offset, 8);
        }
        UnsafeBuffer c = chunkForRead(offset);
        if (c == null) {
            absentChunk();
            return 0;
        }
        return c.getLong(co, LE);
    }

    /** Context: any thread. */
    public void putU8(long offset, int value) {
        checkAccess(offset, 1);
        chunkForWrite(offset).putByte(inChunk(offset), (byte) value);
        markDirty(offset, 1);
    }

    /** Context: any thread. */
    public void putU16(long offset, int value) {
        checkAccess(offset, 2);
        int co = inChunk(offset);
        if (co > chunkSize - 2) {
            putStraddling(offset, value, 2);
        } else {
            chunkForWrite(offset).putShort(co, (short) value, LE);
        }
        markDirty(offset, 2);
    }

    /** Context: any thread. */
    public void putU32(long offset, int value) {
        checkAccess(offset, 4);
        int co = inChunk(offset);
        if (co > chunkSize - 4) {
            putStraddling(offset, value, 4);
        } else {
            chunkForWrite(offset).putInt(co, value, LE);
        }
        markDirty(offset, 4);
    }

    /** Context: any thread. */
    public void putU64(long offset, long value) {
        checkAccess(offset, 8);
        int co = inChunk(offset);
        if (co > chunkSize - 8) {
            putStraddling(offset, value, 8);
        } else {
            chunkForWrite(offset).putLong(co, value, LE);
        }
        markDirty(offset, 8);
    }

    /** Little-endian value of {@code size} bytes that cross a chunk boundary, byte by byte. */
    private long getStraddling(long offset, int size) {
        long v = 0;
        for (int b = 0; b < size; b++) {
            long o = offset + b;
            UnsafeBuffer c = chunkForRead(o);
            if (c == null) {
                absentChunk();
            } else {
                v |= (c.getByte(inChunk(o)) & 0xffL) << (8 * b);
            }
        }
        return v;
    }

    private void putStraddling(long offset, long value, int size) {
        for (int b = 0; b < size; b++) {
            long o = offset + b;
            chunkForWrite(o).putByte(inChunk(o), (byte) (value >>> (8 * b)));
        }
    }

    // ---------------------------------------------------------------------------------------
    // Bulk accessors

    /** Copies {@code len} bytes at {@code offset} into {@code dst[dstOff..]}. Context: any thread. */
    public void getBytes(long offset, byte[] dst, int dstOff, int len) {
        checkAccess(offset, len);
        Objects.checkFromIndexSize(dstOff, len, dst.length);
        while (len > 0) {
            int co = inChunk(offset);
            int n = Math.min(len, chunkSize - co);
            UnsafeBuffer c = chunkForRead(offset);
            if (c == null) {
                absentChunk();
                Arrays.fill(dst, dstOff, dstOff + n, (byte) 0);
            } else {
                c.getBytes(co, dst, dstOff, n);
            }
            offset += n;
            dstOff += n;
            len -= n;
        }
    }

    /**
     * Copies {@code len} bytes at {@code offset} into {@code dst} at absolute index {@code
     * dstIndex} (its position and limit are not used or changed). Context: any thread.
     */
    public void getBytes(long offset, ByteBuffer dst, int dstIndex, int len) {
        checkAccess(offset, len);
        Objects.checkFromIndexSize(dstIndex, len, dst.capacity());
        while (len > 0) {
            int co = inChunk(offset);
            int n = Math.min(len, chunkSize - co);
            UnsafeBuffer c = chunkForRead(offset);
            if (c == null) {
                absentChunk();
                for (int done = 0; done < n; done += ZEROS.length) {
                    dst.put(dstIndex + done, ZEROS, 0, Math.min(ZEROS.length, n - done));
                }
            } else {
                c.getBytes(co, dst, dstIndex, n);
            }
            offset += n;
            dstIndex += n;
            len -= n;
        }
    }

    /** Writes {@code src[srcOff..srcOff+len)} at {@code offset} and marks the pages dirty. Context: any thread. */
    public void putBytes(long offset, byte[] src, int srcOff, int len) {
        checkAccess(offset, len);
        Objects.checkFromIndexSize(srcOff, len, src.length);
        long start = offset;
        int total = len;
        while (len > 0) {
            int co = inChunk(offset);
            int n = Math.min(len, chunkSize - co);
            chunkForWrite(offset).putBytes(co, src, srcOff, n);
            offset += n;
            srcOff += n;
            len -= n;
        }
        markDirty(start, total);
    }

    /**
     * Writes {@code len} bytes of {@code src} from absolute index {@code srcIndex} at {@code
     * offset} and marks the pages dirty. Context: any thread.
     */
    public void putBytes(long offset, ByteBuffer src, int srcIndex, int len) {
        checkAccess(offset, len);
        Objects.checkFromIndexSize(srcIndex, len, src.capacity());
        long start = offset;
        int total = len;
        while (len > 0) {
            int co = inChunk(offset);
            int n = Math.min(len, chunkSize - co);
            chunkForWrite(offset).putBytes(co, src, srcIndex, n);
            offset += n;
            srcIndex += n;
            len -= n;
        }
        markDirty(start, total);
    }

    /** Sets {@code len} bytes at {@code offset} to {@code value} and marks the pages dirty. Context: any thread. */
    public void setMemory(long offset, long len, byte value) {
        checkAccess(offset, len);
        long start = offset;
        long total = len;
        while (len > 0) {
            int co = inChunk(offset);
            int n = (int) Math.min(len, chunkSize - co);
            UnsafeBuffer c = value == 0 ? chunkForRead(offset) : chunkForWrite(offset);
            if (c != null) {
                c.setMemory(co, n, value);
            } else {
                absentChunk(); // zeroing a chunk never written: it already reads zero
            }
            offset += n;
            len -= n;
        }
        markDirty(start, total);
    }

    /**
     * Copies {@code len} bytes from this region at {@code offset} to {@code dst} at {@code
     * dstOffset} and marks them dirty there (migration sends pages this way). Chunks never written
     * on either side are not populated to copy zeros. The two ranges must not overlap. Context: any
     * thread.
     */
    public void copyTo(long offset, RamRegion dst, long dstOffset, long len) {
        checkAccess(offset, len);
        dst.checkAccess(dstOffset, len);
        if (dst == this && offset < dstOffset + len && dstOffset < offset + len) {
            throw new IllegalArgumentException("overlapping copy within region '" + name() + "'");
        }
        long start = dstOffset;
        long total = len;
        while (len > 0) {
            int sco = inChunk(offset);
            int dco = dst.inChunk(dstOffset);
            int n = (int) Math.min(len, Math.min(chunkSize - sco, dst.chunkSize - dco));
            UnsafeBuffer s = chunkForRead(offset);
            if (s != null) {
                dst.chunkForWrite(dstOffset).putBytes(dco, s, sco, n);
            } else {
                absentChunk();
                UnsafeBuffer d = dst.chunkForRead(dstOffset);
                if (d != null) {
                    d.setMemory(dco, n, (byte) 0);
                } else {
                    dst.absentChunk();
                }
            }
            offset += n;
            dstOffset += n;
            len -= n;
        }
        dst.markDirty(start, total);
    }

    /**
     * The first offset at which this region and {@code other} (of the same size) differ, or -1
     * if they are equal byte for byte. Context: any thread; meaningful while neither changes.
     */
    public long mismatch(RamRegion other) {
        if (other.size() != size()) {
            throw new IllegalArgumentException("regions '" + name() + "' (" + Hex.of(size()) + ") and '"
                    + other.name() + "' (" + Hex.of(other.size()) + ") differ in size");
        }
        long offset = 0;
        long len = size();
        while (len > 0) {
            int aco = inChunk(offset);
            int bco = other.inChunk(offset);
            int n = (int) Math.min(len, Math.min(chunkSize - aco, other.chunkSize - bco));
            UnsafeBuffer a = chunkForRead(offset);
            UnsafeBuffer b = other.chunkForRead(offset);
            if (a == null) {
                absentChunk();
            }
            if (b == null) {
                other.absentChunk();
            }
            int at;
            if (a != null && b != null) {
                at = a.byteBuffer().slice(aco, n).mismatch(b.byteBuffer().slice(bco, n)); // vectorized
            } else if (a != null) {
                at = firstNonZero(a, aco, n);
            } else if (b != null) {
                at = firstNonZero(b, bco, n);
            } else {
                at = -1;
            }
            if (at >= 0) {
                return offset + at;
            }
            offset += n;
            len -= n;
        }
        return -1;
    }

    private static int firstNonZero(UnsafeBuffer c, int from, int n) {
        int i = 0;
        for (; i + 8 <= n; i += 8) {
            if (c.getLong(from + i) != 0) {
                break;
            }
        }
        for (; i < n; i++) {
            if (c.getByte(from + i) != 0) {
                return i;
            }
        }
        return -1;
    }

    // ---------------------------------------------------------------------------------------
    // Mapping (for Dma.map)

    /** Bytes from {@code offset} to the end of its chunk: the longest zero-copy view there. */
    int chunkRemaining(long offset) {
        return (int) Math.min(chunkSize - inChunk(offset), size() - offset);
    }

    /** The populated chunk holding {@code offset}, populating it if needed. */
    UnsafeBuffer chunkForMap(long offset) {
        return chunkForWrite(offset);
    }

    int inChunkOffset(long offset) {
        return inChunk(offset);
    }

    // ---------------------------------------------------------------------------------------
    // Dirty logging

    /**
     * Marks the pages of {@code [offset, offset + len)} dirty for every active client. Called
     * after the data is stored; costs one volatile load when no client is active. Context: any
     * thread.
     */
    void markDirty(long offset, long len) {
        int mask = dirtyLogMask;
        if (mask != 0 && len > 0) {
            markDirtySlowPath(mask, offset, len);
        }
    }

    private void markDirtySlowPath(int mask, long offset, long len) {
        long first = offset >>> TARGET_PAGE_BITS;
        long count = ((offset + len - 1) >>> TARGET_PAGE_BITS) - first + 1;
        boolean fenced = false; // at most one fence for all the bitmaps, and only to skip: see DirtyBitmap
        for (int c = 0; mask != 0; c++, mask >>>= 1) {
            if ((mask & 1) != 0) {
                fenced = bitmaps[c].setRange(first, count, fenced);
            }
        }
    }

    /**
     * Starts logging writes for {@code client} ({@code memory_global_dirty_log_start} for one
     * region): clears its bitmap, then makes writes mark it. A write concurrent with this call
     * may or may not be logged; see the class comment. Context: the main loop.
     *
     * @throws IllegalStateException if the client's log is already active
     */
    public synchronized void startDirtyLog(DirtyClient client) {
        ensureOpen();
        if ((dirtyLogMask & client.bit()) != 0) {
            throw new IllegalStateException("RAM region '" + name() + "': dirty log for " + client + " already started");
        }
        bitmaps[client.ordinal()].clearAll();
        dirtyLogMask = dirtyLogMask | client.bit();
    }

    /** Stops logging for {@code client}; its bitmap keeps what it has. Context: the main loop. */
    public synchronized void stopDirtyLog(DirtyClient client) {
        dirtyLogMask = dirtyLogMask & ~client.bit();
    }

    /** Context: any thread. */
    public boolean isDirtyLogActive(DirtyClient client) {
        return (dirtyLogMask & client.bit()) != 0;
    }

    /** {@code client}'s bitmap, page {@code p} covering offsets {@code [p*4096, p*4096+4096)}. Context: any thread. */
    public DirtyBitmap dirtyBitmap(DirtyClient client) {
        return bitmaps[client.ordinal()];
    }

    /** Number of pages. */
    public long pages() {
        return size() >>> TARGET_PAGE_BITS;
    }

    // ---------------------------------------------------------------------------------------
    // Lifetime and introspection

    /** Bytes of host memory populated so far. Context: any thread. */
    public long populatedBytes() {
        synchronized (populateLock) {
            long n = 0;
            for (UnsafeBuffer c : chunks) {
                if (c != null) {
                    n += c.capacity();
                }
            }
            return n;
        }
    }

    public int chunkSize() {
        return chunkSize;
    }

    /** An address space maps ({@code +1}) or unmaps ({@code -1}) this region. */
    void mappedInChanged(int delta) {
        synchronized (populateLock) {
            if (delta > 0) {
                ensureOpen();
            }
            mappedIn = mappedIn + delta;
        }
    }

    /**
     * Frees the region's memory. Idempotent. Accesses afterwards throw {@link
     * IllegalStateException}. Context: the main loop, once no thread accesses the region.
     *
     * @throws IllegalStateException while the region is mapped in an address space
     */
    @Override
    public void close() {
        synchronized (populateLock) {
            if (closed) {
                return;
            }
            if (mappedIn > 0) {
                throw new IllegalStateException("RAM region '" + name() + "' is still mapped in "
                        + mappedIn + " address space(s); unmap it first");
            }
            closed = true;
            for (int i = 0; i < chunks.length; i++) {
                if (chunks[i] != null) {
                    CHUNKS.setRelease(chunks, i, null);
                    BufferUtil.free(allocations[i]);
                    allocations[i] = null;
                }
            }
            populated = 0;
        }
    }

    /** Context: any thread. */
    public boolean isClosed() {
        return closed;
    }

    @Override
    public String toString() {
        return "RamRegion[" + name() + ", " + Hex.of(size()) + " bytes, " + populated + "/" + chunks.length
                + " chunks of " + chunkSize + (closed ? ", closed" : "") + "]";
    }
}
