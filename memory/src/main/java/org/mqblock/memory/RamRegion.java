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
 * The memory is either private, allocated by the region, or {@linkplain #shared shared}: a
 * mapping that the region's owner made and that another process (QEMU, a vhost-user front-end)
 * maps too ({@code memory_region_init_ram_from_fd}).
 *
 * <h2>Memory</h2>
 * An Agrona {@link UnsafeBuffer} is indexed by {@code int}, so a region of several GiB is split
 * into chunks of {@code 2^chunkBits} bytes (2 MiB by default, configurable from a page to 1 GiB),
 * each a page-aligned direct {@link ByteBuffer} wrapped by an {@code UnsafeBuffer}. Chunks of
 * private memory are populated on first write or map, zero-filled, like the anonymous mapping behind QEMU's guest RAM
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
 * <h2>Shared memory</h2>
 * {@link #shared} makes a region over one contiguous mapping given by host address and length,
 * which the region neither allocates, zeroes, frees nor unmaps. It is cut into chunks of {@code
 * 2^chunkBits} bytes (1 GiB by default) only because an {@code UnsafeBuffer} and a {@code
 * ByteBuffer} are indexed by {@code int}: every chunk exists from the start, and the accessors,
 * dirty logging, {@link Dma} and {@link DmaMapping} work on it exactly as on private RAM (a
 * zero-copy mapping stops at a chunk end, as it does there). The owner supplies {@link Views}:
 * direct {@code ByteBuffer}s over its mapping, which {@link DmaMapping#byteBuffer()} and {@link
 * DmaMapping#chunkBuffer()} hand to channel I/O. What the other process writes is seen by reads
 * here as soon as the hardware makes it visible; it marks no dirty bit (its writes are its own to
 * log).
 *
 * <h2>Lifetime</h2>
 * {@link #close()} retires the region: it is idempotent, refused while the region is mapped in an
 * address space, and any access or {@link Dma#map} afterwards fails with an {@link
 * IllegalStateException} naming the region. The memory is <em>released</em> once the region is
 * closed and nothing uses it any more ({@link #isReleased()}): no {@link DmaMapping} of it is
 * still mapped ({@link #liveMappings()}; unmapping the region from an address space does not end
 * the zero-copy mappings made through it), and, for a shared region, no access is under way.
 * Private memory is then freed; for shared memory the owner's release action runs, once, on the
 * thread that dropped the last use: the closing thread, or the one whose {@link Dma#unmap} ended
 * the last mapping. Only then may the owner unmap its memory. A shared region counts accesses
 * under way per thread ({@link AccessTracker}), so close waits for them; a private one does not,
 * and its owner must not close it under accesses in flight (QEMU defers the free with RCU; here
 * the owner closes after unmapping and after the devices that used the region are stopped).
 *
 * <p>Thread-safe: any number of threads may access the region concurrently; concurrent writes
 * to the same bytes race as they would on real RAM.
 */
public final class RamRegion extends MemoryRegion implements AutoCloseable {

    abstract static class MappingsPadBefore {
        long p00, p01, p02, p03, p04, p05, p06, p07;
    }

    abstract static class MappingsCount extends MappingsPadBefore {
        /**
         * Live mappings. Changed by the mapping and unmapping threads with volatile getAndAdd;
         * read by close and by anyone with volatile loads. Padded: every map and unmap writes it,
         * while every write reads the region's {@code dirtyLogMask}, which must not share that line.
         */
        int count;
    }

    /** The live-mapping count, padded to a cache line of its own. */
    static final class Mappings extends MappingsCount {
        long p10, p11, p12, p13, p14, p15, p16, p17;
    }

    /** 2 MiB chunks: a huge page's worth, so first-touch zeroing stays sub-millisecond. */
    public static final int DEFAULT_CHUNK_BITS = 21;
    /** 1 GiB chunks for shared memory: nothing to populate, so as few chunk ends as an int index allows. */
    public static final int SHARED_CHUNK_BITS = 30;
    public static final int MIN_CHUNK_BITS = TARGET_PAGE_BITS;
    public static final int MAX_CHUNK_BITS = 30;

    private static final VarHandle CHUNKS = MethodHandles.arrayElementVarHandle(UnsafeBuffer[].class);
    private static final VarHandle MAPPINGS;
    private static final VarHandle RELEASED;

    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final byte[] ZEROS = new byte[TARGET_PAGE_SIZE];

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            MAPPINGS = l.findVarHandle(MappingsCount.class, "count", int.class);
            RELEASED = l.findVarHandle(RamRegion.class, "released", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final int chunkBits;
    private final int chunkSize;
    private final int chunkMask;

    /**
     * Chunk {@code i}'s memory, or null while not populated (and after close). Written under
     * {@link #populateLock} with release stores; read by any thread with an acquire load.
     */
    private final UnsafeBuffer[] chunks;
    /**
     * The allocation behind each chunk of private memory, kept to free it (null entries for shared
     * memory). Written and read under {@link #populateLock} only.
     */
    private final ByteBuffer[] allocations;
    private final Object populateLock = new Object();

    /** Host address of shared memory (page-aligned), or 0 for private memory. */
    private final long sharedAddress;
    /** The owner's release action for shared memory, run once; null for private memory. */
    private final Runnable onRelease;
    /** Threads inside an access, for shared memory only (null for private memory: no cost there). */
    private final AccessTracker accesses;

    /**
     * Set once by close under {@link #populateLock} (volatile store before the loads of {@link
     * #mappings} and of the access slots, Dekker with {@link #mapChunk} and {@link
     * AccessTracker#enter}); read by the slow paths, by every access to shared memory and by map.
     */
    private volatile boolean closed;
    /**
     * Set once by close after the accesses under way have left (volatile store before the load of
     * {@link #mappings}); read by {@link #mappingEnded} after its decrement (volatile). Pairs the
     * two ways the last use can end.
     */
    private volatile boolean drained;
    /** DmaMappings of this region not yet unmapped, on a cache line of its own. */
    private final Mappings mappings = new Mappings();
    /** Set once, by whichever thread wins the compareAndSet (volatile) that releases the memory; read by any thread. */
    private volatile boolean released;
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
     * Direct {@link ByteBuffer} views of a shared mapping, made by its owner (on JDK 22 and
     * later, {@code MemorySegment.asSlice(offset, length).asByteBuffer()} of the segment it
     * mapped; in tests, a slice of a {@code MappedByteBuffer}).
     */
    @FunctionalInterface
    public interface Views {
        /**
         * A writable direct buffer whose index 0 is at {@code address + offset} of the mapping
         * and whose capacity is {@code length}. Called once per chunk, by {@link #shared}.
         */
        ByteBuffer view(long offset, int length);
    }

    /**
     * Guest RAM over shared memory that the caller mapped: {@code length} bytes at host {@code
     * address}, in 1 GiB chunks. See the class comment for what the region does with the memory
     * and when the owner may unmap it. Context: any thread (the owner's, typically the main loop).
     *
     * @param address page-aligned host address of the mapping
     * @param length a positive multiple of the page size
     * @param views direct buffers over the mapping, for zero-copy channel I/O
     * @param onRelease run once when the region is closed and nothing uses it any more, on the
     *     thread that dropped the last use; it must not block for long or throw, and after it the
     *     region never touches the memory again
     * @throws IllegalArgumentException if the geometry is invalid or a view does not cover the
     *     mapping where it should
     */
    public static RamRegion shared(String name, long address, long length, Views views, Runnable onRelease) {
        return shared(name, address, length, SHARED_CHUNK_BITS, views, onRelease);
    }

    /**
     * {@link #shared(String, long, long, Views, Runnable)} with chunks of {@code 2^chunkBits}
     * bytes ({@value #MIN_CHUNK_BITS} to {@value #MAX_CHUNK_BITS}); a zero-copy mapping stops at
     * a chunk end. Context: any thread.
     */
    public static RamRegion shared(String name, long address, long length, int chunkBits, Views views,
                                   Runnable onRelease) {
        Objects.requireNonNull(views, "views");
        Objects.requireNonNull(onRelease, "onRelease");
        return new RamRegion(name, length, chunkBits, false, address, views, onRelease);
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
        this(name, size, chunkBits, prealloc, 0, null, null);
    }

    private RamRegion(String name, long size, int chunkBits, boolean prealloc, long address, Views views,
                      Runnable onRelease) {
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
        this.sharedAddress = address;
        this.onRelease = onRelease;
        this.accesses = views != null ? new AccessTracker() : null;
        if (views != null) {
            wrapShared(address, views);
        } else if (prealloc) {
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

    /** Publishes every chunk of shared memory at once, each over the owner's view of it. */
    private void wrapShared(long address, Views views) {
        if (address <= 0 || !TargetPage.isAligned(address) || address > Long.MAX_VALUE - size()) {
            throw new IllegalArgumentException("shared RAM region '" + name() + "': host address " + Hex.of(address)
                    + " of " + Hex.of(size()) + " bytes is not a page-aligned mapping");
        }
        synchronized (populateLock) {
            for (int i = 0; i < chunks.length; i++) {
                long start = (long) i << chunkBits;
                int len = (int) Math.min(chunkSize, size() - start);
                ByteBuffer v = views.view(start, len);
                if (v == null || !v.isDirect() || v.isReadOnly() || v.capacity() != len
                        || BufferUtil.address(v) != address + start) {
                    throw new IllegalArgumentException("shared RAM region '" + name() + "': the view of "
                            + Hex.access(start, len) + " must be a writable direct buffer of " + len + " bytes at "
                            + Hex.of(address + start) + ", got " + describeView(v));
                }
                CHUNKS.setRelease(chunks, i, new UnsafeBuffer(v));
            }
            populated = chunks.length;
        }
    }

    private static String describeView(ByteBuffer v) {
        if (v == null) {
            return "null";
        }
        return (v.isDirect() ? "a direct buffer of " + v.capacity() + " bytes at " + Hex.of(BufferUtil.address(v))
                : "a heap buffer") + (v.isReadOnly() ? ", read-only" : "");
    }

    /**
     * Counts the calling thread into an access of shared memory (null for private memory, which
     * is not counted) and fails, counting it out again, if the region is closed.
     */
    private AccessTracker.Slot enter() {
        AccessTracker a = accesses;
        if (a == null) {
            return null;
        }
        AccessTracker.Slot s = a.enter();
        if (closed && !AccessTracker.nested(s)) { // volatile load after the entry's volatile store; pairs with close()
            a.exit(s);
            throw closedException();
        }
        return s;
    }

    private void exit(AccessTracker.Slot s) {
        if (s != null) {
            accesses.exit(s);
        }
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
        AccessTracker.Slot in = enter();
        try {
            UnsafeBuffer c = chunkForRead(offset);
            if (c == null) {
                absentChunk();
                return 0;
            }
            return c.getByte(inChunk(offset)) & 0xff;
        } finally {
            exit(in);
        }
    }

    /** Context: any thread. */
    public int getU16(long offset) {
        checkAccess(offset, 2);
        AccessTracker.Slot in = enter();
        try {
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
        } finally {
            exit(in);
        }
    }

    /** The 32 bits, as an {@code int} (use {@link Integer#toUnsignedLong} for the value). Context: any thread. */
    public int getU32(long offset) {
        checkAccess(offset, 4);
        AccessTracker.Slot in = enter();
        try {
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
        } finally {
            exit(in);
        }
    }

    /** Context: any thread. */
    public long getU64(long offset) {
        checkAccess(offset, 8);
        AccessTracker.Slot in = enter();
        try {
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
        } finally {
            exit(in);
        }
    }

    /** Context: any thread. */
    public void putU8(long offset, int value) {
        checkAccess(offset, 1);
        AccessTracker.Slot in = enter();
        try {
            chunkForWrite(offset).putByte(inChunk(offset), (byte) value);
            markDirty(offset, 1);
        } finally {
            exit(in);
        }
    }

    /** Context: any thread. */
    public void putU16(long offset, int value) {
        checkAccess(offset, 2);
        AccessTracker.Slot in = enter();
        try {
            int co = inChunk(offset);
            if (co > chunkSize - 2) {
                putStraddling(offset, value, 2);
            } else {
                chunkForWrite(offset).putShort(co, (short) value, LE);
            }
            markDirty(offset, 2);
        } finally {
            exit(in);
        }
    }

    /** Context: any thread. */
    public void putU32(long offset, int value) {
        checkAccess(offset, 4);
        AccessTracker.Slot in = enter();
        try {
            int co = inChunk(offset);
            if (co > chunkSize - 4) {
                putStraddling(offset, value, 4);
            } else {
                chunkForWrite(offset).putInt(co, value, LE);
            }
            markDirty(offset, 4);
        } finally {
            exit(in);
        }
    }

    /** Context: any thread. */
    public void putU64(long offset, long value) {
        checkAccess(offset, 8);
        AccessTracker.Slot in = enter();
        try {
            int co = inChunk(offset);
            if (co > chunkSize - 8) {
                putStraddling(offset, value, 8);
            } else {
                chunkForWrite(offset).putLong(co, value, LE);
            }
            markDirty(offset, 8);
        } finally {
            exit(in);
        }
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
        AccessTracker.Slot in = enter();
        try {
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
        } finally {
            exit(in);
        }
    }

    /**
     * Copies {@code len} bytes at {@code offset} into {@code dst} at absolute index {@code
     * dstIndex} (its position and limit are not used or changed). Context: any thread.
     */
    public void getBytes(long offset, ByteBuffer dst, int dstIndex, int len) {
        checkAccess(offset, len);
        Objects.checkFromIndexSize(dstIndex, len, dst.capacity());
        AccessTracker.Slot in = enter();
        try {
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
        } finally {
            exit(in);
        }
    }

    /** Writes {@code src[srcOff..srcOff+len)} at {@code offset} and marks the pages dirty. Context: any thread. */
    public void putBytes(long offset, byte[] src, int srcOff, int len) {
        checkAccess(offset, len);
        Objects.checkFromIndexSize(srcOff, len, src.length);
        AccessTracker.Slot in = enter();
        try {
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
        } finally {
            exit(in);
        }
    }

    /**
     * Writes {@code len} bytes of {@code src} from absolute index {@code srcIndex} at {@code
     * offset} and marks the pages dirty. Context: any thread.
     */
    public void putBytes(long offset, ByteBuffer src, int srcIndex, int len) {
        checkAccess(offset, len);
        Objects.checkFromIndexSize(srcIndex, len, src.capacity());
        AccessTracker.Slot in = enter();
        try {
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
        } finally {
            exit(in);
        }
    }

    /** Sets {@code len} bytes at {@code offset} to {@code value} and marks the pages dirty. Context: any thread. */
    public void setMemory(long offset, long len, byte value) {
        checkAccess(offset, len);
        AccessTracker.Slot in = enter();
        try {
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
        } finally {
            exit(in);
        }
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
        AccessTracker.Slot in = enter();
        AccessTracker.Slot in2 = null;
        try {
            in2 = dst.enter();
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
        } finally {
            dst.exit(in2);
            exit(in);
        }
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
        AccessTracker.Slot in = enter();
        AccessTracker.Slot in2 = null;
        try {
            in2 = other.enter();
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
        } finally {
            other.exit(in2);
            exit(in);
        }
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

    /**
     * Starts a {@link DmaMapping} at {@code offset}: counts it, then returns the chunk holding
     * the offset (populating private memory if needed). The mapper must call {@link
     * #mappingEnded} once when the mapping ends, or at once if this throws nothing but the
     * mapping cannot be made. Context: the mapping thread.
     *
     * @throws IllegalStateException if the region is closed (the mapping is then not counted)
     */
    UnsafeBuffer mapChunk(long offset) {
        MAPPINGS.getAndAdd(mappings, 1); // volatile RMW before the load of `closed`; pairs with close()
        try {
            if (closed) {
                throw closedException();
            }
            return chunkForWrite(offset);
        } catch (RuntimeException | Error e) {
            mappingEnded();
            throw e;
        }
    }

    /**
     * Ends a mapping counted by {@link #mapChunk}; releases the memory if it was the last use of
     * a closed region. Context: the thread that unmaps.
     */
    void mappingEnded() {
        int before = (int) MAPPINGS.getAndAdd(mappings, -1); // volatile RMW before the load of `drained`
        assert before > 0 : "mapping ended twice in region '" + name() + "'";
        if (before == 1 && drained) { // pairs with close(): one of the two sees the other
            releaseIfUnused();
        }
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
     * Retires the region: later accesses and maps fail. Idempotent. For shared memory, waits for
     * the accesses under way to leave (they are short and never block). Then, if no {@link
     * DmaMapping} of the region is mapped, releases the memory now (frees private memory, runs a
     * shared region's release action on this thread); otherwise the last {@link Dma#unmap} does.
     * Context: the main loop, not from inside an access of this region; for private memory, once
     * no thread accesses the region.
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
            if (accesses != null && accesses.isInsideCurrentThread()) {
                throw new IllegalStateException("RAM region '" + name() + "': close from inside an access of it");
            }
            closed = true; // volatile store before the slot and mapping loads below
            if (accesses == null) {
                for (int i = 0; i < chunks.length; i++) {
                    CHUNKS.setRelease(chunks, i, null); // private: new accesses fail now; the memory stays
                }                                        // until released, for the mappings still live
                populated = 0;
            }
        }
        if (accesses != null) {
            accesses.awaitNoneInside();
        }
        drained = true; // volatile store before the mapping load; pairs with mappingEnded()
        releaseIfUnused();
    }

    private void releaseIfUnused() {
        if ((int) MAPPINGS.getVolatile(mappings) == 0 && RELEASED.compareAndSet(this, false, true)) {
            release();
        }
    }

    /** Frees private memory or hands shared memory back to its owner. Runs once. */
    private void release() {
        synchronized (populateLock) {
            for (int i = 0; i < chunks.length; i++) {
                CHUNKS.setRelease(chunks, i, null);
                if (allocations[i] != null) {
                    BufferUtil.free(allocations[i]);
                    allocations[i] = null;
                }
            }
            populated = 0;
        }
        if (onRelease != null) {
            onRelease.run();
        }
    }

    /** Context: any thread. */
    public boolean isClosed() {
        return closed;
    }

    /**
     * Whether the region is closed and its memory released: private memory freed, or shared
     * memory's release action run (or running), after which the owner may unmap it. Context:
     * any thread.
     */
    public boolean isReleased() {
        return released;
    }

    /** How many {@link DmaMapping}s of this region are mapped now. Context: any thread. */
    public int liveMappings() {
        return (int) MAPPINGS.getVolatile(mappings);
    }

    /**
     * Whether the memory is a mapping the owner made ({@link #shared}) rather than the region's
     * own. Context: any thread.
     */
    public boolean isShared() {
        return accesses != null;
    }

    /** How many threads are inside an access of this shared region now (0 for private memory). For tests. */
    int threadsInside() {
        return accesses != null ? accesses.threadsInside() : 0;
    }

    /** Enters an access as an accessor does, for tests that hold one open. */
    AccessTracker.Slot enterForTest() {
        AccessTracker.Slot s = enter();
        if (s == null) {
            throw new IllegalStateException("RAM region '" + name() + "' is private: accesses are not counted");
        }
        return s;
    }

    void exitForTest(AccessTracker.Slot s) {
        exit(s);
    }

    @Override
    public String toString() {
        return "RamRegion[" + name() + ", " + Hex.of(size()) + " bytes, "
                + (accesses != null ? "shared at " + Hex.of(sharedAddress) + ", " : "")
                + populated + "/" + chunks.length + " chunks of " + chunkSize
                + (closed ? released ? ", released" : ", closed" : "") + "]";
    }
}
