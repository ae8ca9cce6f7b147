package org.mqblock.memory;

import java.nio.ByteBuffer;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import org.agrona.concurrent.UnsafeBuffer;
import org.mqblock.core.loop.AioContext;

/**
 * A requester's view of an {@link AddressSpace}: the device (or vCPU) that reads and writes guest
 * memory through it ({@code address_space_rw}, {@code address_space_ld*}/{@code st*}, {@code
 * address_space_map}/{@code unmap} with the requester's {@code MemTxAttrs}).
 *
 * <h2>RAM</h2>
 * A write stores the data, then marks the touched pages in the dirty bitmap of every active
 * client (in {@link RamRegion}), all inside the address space's {@link WriteGate}. Reads take no
 * lock and enter no gate. Nothing is allocated per access: the region lookup uses the published
 * {@link FlatView} and a last-hit index kept here; the gate slot of the calling thread is cached
 * here too.
 *
 * <h2>MMIO and recursive dispatch</h2>
 * An access that lands in an {@link MmioRegion} runs the region's handler holding the region's
 * owner {@link AioContext}. If the calling thread already holds it (a device's access to its own
 * registers from its own context), the handler runs directly. Otherwise the {@link DispatchPolicy}
 * decides: {@link DispatchPolicy#RELEASE_REACQUIRE} drops this Dma's context for the duration
 * ({@code depth = ctx.releaseAll(); owner.acquire(); ... owner.release(); ctx.reacquire(depth)}),
 * {@link DispatchPolicy#NESTED} acquires the owner on top of it. Before any locking, the
 * requester's and the target's {@link ReentrancyGuard}s are checked against the calling thread's
 * {@link DispatchChain}. MMIO accesses are 1, 2, 4 or 8 bytes.
 *
 * <p>Context: a thread holding this Dma's context (the device's handlers, in its IOThread or in a
 * thread that dispatched into it); a Dma without a context (a vCPU) is used by one thread at a
 * time. Under {@code RELEASE_REACQUIRE} the calling thread must hold no context other than this
 * Dma's, or what it holds besides stays held while it waits.
 */
public final class Dma {

    /**
     * Whether lookups try the last-hit region before the binary search. On by default; the
     * LookupBench benchmark switches it off ({@code -Dmqblock.memory.noLookupHint=true}) to show
     * what it is worth.
     */
    private static final boolean LOOKUP_HINT = !Boolean.getBoolean("mqblock.memory.noLookupHint");

    private final AddressSpace as;
    private final WriteGate gate;
    private final AioContext ctx;
    private final ReentrancyGuard guard;
    private final DispatchPolicy policy;

    /**
     * Last region index that served a lookup: a hint, validated against the current view before
     * use, so any value is safe. Written and read plainly by the threads using this Dma.
     */
    private int lastHit;
    /** The last thread's gate slot, checked against the current thread before use; plain, like lastHit. */
    private WriteGate.Slot cachedSlot;

    /** MMIO accesses whose handler returned (any thread using this Dma increments; atomic). */
    private final AtomicLong mmioDispatches = new AtomicLong();
    /** Of those, the ones that took a context the caller did not hold. */
    private final AtomicLong crossContextDispatches = new AtomicLong();
    /** MMIO accesses of this Dma that a re-entrancy guard refused. */
    private final AtomicLong refusals = new AtomicLong();

    /**
     * Context: any thread (typically the main loop, when the device is created).
     *
     * @param ctx the device's context, held by the thread using this Dma; null for a vCPU
     * @param guard the device's re-entrancy guard, engaged during its MMIO dispatches; may be null
     */
    public Dma(AddressSpace as, AioContext ctx, ReentrancyGuard guard, DispatchPolicy policy) {
        this.as = Objects.requireNonNull(as, "as");
        this.gate = as.writeGate();
        this.ctx = ctx;
        this.guard = guard;
        this.policy = Objects.requireNonNull(policy, "policy");
    }

    /** A vCPU's Dma: no context, no guard, release-reacquire dispatch. Context: any thread. */
    public static Dma forCpu(AddressSpace as) {
        return new Dma(as, null, null, DispatchPolicy.RELEASE_REACQUIRE);
    }

    public AddressSpace addressSpace() {
        return as;
    }

    public DispatchPolicy policy() {
        return policy;
    }

    /** The device's context, or null. */
    public AioContext context() {
        return ctx;
    }

    // ---------------------------------------------------------------------------------------
    // Scalar accesses (address_space_ldub / lduw_le / ldl_le / ldq_le and st*)

    /** Context: see the class comment. */
    public int readU8(long addr) {
        return (int) readScalar(addr, 1);
    }

    /** Context: see the class comment. */
    public int readU16(long addr) {
        return (int) readScalar(addr, 2);
    }

    /** The 32 bits as an {@code int}. Context: see the class comment. */
    public int readU32(long addr) {
        return (int) readScalar(addr, 4);
    }

    /** Context: see the class comment. */
    public long readU64(long addr) {
        return readScalar(addr, 8);
    }

    /** Context: see the class comment. */
    public void writeU8(long addr, int value) {
        writeScalar(addr, value & 0xffL, 1);
    }

    /** Context: see the class comment. */
    public void writeU16(long addr, int value) {
        writeScalar(addr, value & 0xffffL, 2);
    }

    /** Context: see the class comment. */
    public void writeU32(long addr, int value) {
        writeScalar(addr, value & 0xffff_ffffL, 4);
    }

    /** Context: see the class comment. */
    public void writeU64(long addr, long value) {
        writeScalar(addr, value, 8);
    }

    private long readScalar(long addr, int size) {
        FlatView v = as.view();
        int i = translate(v, addr, size);
        MemoryRegion r = v.regions[i];
        long off = addr - v.starts[i];
        if (r instanceof RamRegion ram) {
            switch (size) {
                case 1: return ram.getU8(off);
                case 2: return ram.getU16(off);
                case 4: return ram.getU32(off) & 0xffff_ffffL;
                default: return ram.getU64(off);
            }
        }
        return mmio((MmioRegion) r, addr, off, 0, size, false);
    }

    private void writeScalar(long addr, long value, int size) {
        FlatView v = as.view();
        int i = translate(v, addr, size);
        MemoryRegion r = v.regions[i];
        long off = addr - v.starts[i];
        if (r instanceof RamRegion ram) {
            WriteGate.Slot s = enterWrite();
            try {
                switch (size) {
                    case 1: ram.putU8(off, (int) value); break;
                    case 2: ram.putU16(off, (int) value); break;
                    case 4: ram.putU32(off, (int) value); break;
                    default: ram.putU64(off, value); break;
                }
            } finally {
                gate.exitWrite(s);
            }
            return;
        }
        mmio((MmioRegion) r, addr, off, value, size, true);
    }

    // ---------------------------------------------------------------------------------------
    // Bulk accesses (address_space_read / address_space_write)

    /**
     * Reads {@code len} bytes at {@code addr} into {@code dst[off..]}. In MMIO, {@code len} must
     * be 1, 2, 4 or 8 (one little-endian handler access). Context: see the class comment.
     */
    public void read(long addr, byte[] dst, int off, int len) {
        Objects.checkFromIndexSize(off, len, dst.length);
        FlatView v = as.view();
        int i = translate(v, addr, len);
        MemoryRegion r = v.regions[i];
        long roff = addr - v.starts[i];
        if (r instanceof RamRegion ram) {
            ram.getBytes(roff, dst, off, len);
            return;
        }
        long value = mmio((MmioRegion) r, addr, roff, 0, len, false);
        for (int b = 0; b < len; b++) {
            dst[off + b] = (byte) (value >>> (8 * b));
        }
    }

    /**
     * Writes {@code src[off..off+len)} at {@code addr}. In MMIO, {@code len} must be 1, 2, 4 or 8.
     * Context: see the class comment.
     */
    public void write(long addr, byte[] src, int off, int len) {
        Objects.checkFromIndexSize(off, len, src.length);
        FlatView v = as.view();
        int i = translate(v, addr, len);
        MemoryRegion r = v.regions[i];
        long roff = addr - v.starts[i];
        if (r instanceof RamRegion ram) {
            WriteGate.Slot s = enterWrite();
            try {
                ram.putBytes(roff, src, off, len);
            } finally {
                gate.exitWrite(s);
            }
            return;
        }
        long value = 0;
        for (int b = 0; b < len && b < 8; b++) {
            value |= (src[off + b] & 0xffL) << (8 * b);
        }
        mmio((MmioRegion) r, addr, roff, value, len, true);
    }

    /**
     * Reads {@code len} bytes at {@code addr} into {@code dst} at absolute index {@code index}
     * (position and limit untouched). Context: see the class comment.
     */
    public void read(long addr, ByteBuffer dst, int index, int len) {
        Objects.checkFromIndexSize(index, len, dst.capacity());
        FlatView v = as.view();
        int i = translate(v, addr, len);
        MemoryRegion r = v.regions[i];
        long roff = addr - v.starts[i];
        if (r instanceof RamRegion ram) {
            ram.getBytes(roff, dst, index, len);
            return;
        }
        long value = mmio((MmioRegion) r, addr, roff, 0, len, false);
        for (int b = 0; b < len; b++) {
            dst.put(index + b, (byte) (value >>> (8 * b)));
        }
    }

    /**
     * Writes {@code len} bytes of {@code src} from absolute index {@code index} at {@code addr}.
     * Context: see the class comment.
     */
    public void write(long addr, ByteBuffer src, int index, int len) {
        Objects.checkFromIndexSize(index, len, src.capacity());
        FlatView v = as.view();
        int i = translate(v, addr, len);
        MemoryRegion r = v.regions[i];
        long roff = addr - v.starts[i];
        if (r instanceof RamRegion ram) {
            WriteGate.Slot s = enterWrite();
            try {
                ram.putBytes(roff, src, index, len);
            } finally {
                gate.exitWrite(s);
            }
            return;
        }
        long value = 0;
        for (int b = 0; b < len && b < 8; b++) {
            value |= (src.get(index + b) & 0xffL) << (8 * b);
        }
        mmio((MmioRegion) r, addr, roff, value, len, true);
    }

    // ---------------------------------------------------------------------------------------
    // Zero-copy mapping (address_space_map / address_space_unmap)

    /**
     * Maps {@code [addr, addr + len)} of RAM into {@code into} for direct access and returns the
     * mapped length, which is less than {@code len} where a RAM chunk ends (QEMU's {@code plen}:
     * map the rest with another call). A writable mapping enters the {@link WriteGate} until
     * {@link #unmap}. MMIO cannot be mapped: QEMU bounces such an access through a single buffer;
     * here it is refused ({@link MemoryAccessException.Kind#NOT_MAPPABLE}) and the device uses
     * {@link #read}/{@link #write}, which is what a bounce would do anyway. Context: see the class
     * comment.
     *
     * @throws IllegalStateException if {@code into} is still mapped
     */
    public int map(long addr, long len, boolean isWrite, DmaMapping into) {
        if (into.isMapped()) {
            throw new IllegalStateException("map into " + into + ", which is still mapped");
        }
        if (len <= 0) {
            throw new IllegalArgumentException("map of " + len + " bytes at " + Hex.of(addr));
        }
        FlatView v = as.view();
        int i = translate(v, addr, len);
        MemoryRegion r = v.regions[i];
        if (!(r instanceof RamRegion ram)) {
            throw new MemoryAccessException(MemoryAccessException.Kind.NOT_MAPPABLE,
                    "address space '" + as.name() + "': cannot map " + Hex.access(addr, len) + ": region "
                            + v.describe(i) + " is MMIO, not RAM (use Dma.read/write, as a bounce buffer would)");
        }
        long off = addr - v.starts[i];
        int n = (int) Math.min(len, ram.chunkRemaining(off));
        WriteGate.Slot s = null;
        if (isWrite) {
            s = slot();
            gate.mapped(s, ctx);
        }
        boolean counted = false;
        try {
            UnsafeBuffer chunk = ram.mapChunk(off); // counts the mapping: the region is not released under it
            counted = true;
            into.set(ram, off, addr, chunk, ram.inChunkOffset(off), n, isWrite, gate, s);
        } catch (RuntimeException | Error e) {
            if (counted) {
                ram.mappingEnded();
            }
            if (s != null) {
                gate.enterWrite(s, ctx); // holding the mapping: nested, never parks
                gate.unmapped(s);
            }
            throw e;
        }
        return n;
    }

    /**
     * Ends a mapping ({@code address_space_unmap}): for a writable one, marks the first {@code
     * accessLen} bytes dirty and leaves the gate; then stops counting it as a use of its region,
     * which releases a closed region's memory if this was its last use (see {@link RamRegion}).
     * Works after the region was unmapped from the address space. Context: the thread that
     * mapped, or one it handed the mapping to.
     */
    public void unmap(DmaMapping m, int accessLen) {
        if (!m.isMapped()) {
            throw new IllegalStateException("unmap of a DmaMapping that is not mapped");
        }
        if (accessLen < 0 || accessLen > m.length) {
            throw new IllegalArgumentException("unmap with accessLen " + accessLen + " of a mapping of " + m.length + " bytes");
        }
        RamRegion r = m.region;
        if (!m.write) {
            m.clear();
            r.mappingEnded();
            return;
        }
        WriteGate g = m.gate;
        WriteGate.Slot s = m.slot;
        g.enterWrite(s, null); // the slot holds a mapping: nested, never parks
        try {
            r.markDirty(m.regionOffset, accessLen);
        } finally {
            g.unmapped(s);
            m.clear();
            r.mappingEnded(); // after clear: a release it triggers leaves no view behind
        }
    }

    // ---------------------------------------------------------------------------------------
    // Lookup and the write gate

    private int translate(FlatView v, long addr, long size) {
        if (!LOOKUP_HINT) {
            return as.translate(v, addr, size, Integer.MAX_VALUE);
        }
        int i = as.translate(v, addr, size, lastHit);
        if (i != lastHit) {
            lastHit = i; // written only on a miss: a hit leaves the field's cache line alone
        }
        return i;
    }

    private WriteGate.Slot slot() {
        WriteGate.Slot s = cachedSlot;
        if (s == null || s.thread != Thread.currentThread()) {
            s = gate.slot();
            cachedSlot = s;
        }
        return s;
    }

    private WriteGate.Slot enterWrite() {
        WriteGate.Slot s = slot();
        gate.enterWrite(s, ctx);
        return s;
    }

    // ---------------------------------------------------------------------------------------
    // MMIO dispatch

    private long mmio(MmioRegion r, long addr, long off, long value, int size, boolean write) {
        if (size != 1 && size != 2 && size != 4 && size != 8) {
            throw new MemoryAccessException(MemoryAccessException.Kind.BAD_MMIO_SIZE,
                    "address space '" + as.name() + "': MMIO " + (write ? "write " : "read ") + Hex.access(addr, size)
                            + " to region '" + r.name() + "': MMIO accesses are 1, 2, 4 or 8 bytes");
        }
        DispatchChain chain = DispatchChain.current();
        ReentrancyGuard target = r.guard();
        boolean pushedSelf = guard != null && !chain.contains(guard);
        if (pushedSelf) {
            chain.push(guard); // our DMA is our I/O: a dispatch chain back into us must see it
        }
        try {
            if (target != null && chain.contains(target)) {
                target.countRefusal();
                refusals.incrementAndGet();
                throw new MemoryAccessException(MemoryAccessException.Kind.REENTRANT,
                        "re-entrant MMIO access refused: " + chain.describe(target) + " (" + (write ? "write " : "read ")
                                + Hex.access(addr, size) + " to region '" + r.name() + "' of device '" + target.device()
                                + "', whose I/O is already under way on this thread)");
            }
            long result;
            if (r.owner().isHeldByCurrentThread()) {
                result = dispatch(r, chain, off, value, size, write);
            } else {
                result = policy == DispatchPolicy.NESTED
                        ? dispatchNested(r, chain, addr, off, value, size, write)
                        : dispatchReleasing(r, chain, off, value, size, write);
                crossContextDispatches.incrementAndGet();
            }
            mmioDispatches.incrementAndGet();
            return result;
        } finally {
            if (pushedSelf) {
                chain.pop(guard);
            }
        }
    }

    /** RELEASE_REACQUIRE: never hold two contexts, never wait while holding one. */
    private long dispatchReleasing(MmioRegion r, DispatchChain chain, long off, long value, int size, boolean write) {
        AioContext owner = r.owner();
        int depth = ctx != null ? ctx.releaseAll() : 0; // 0 when the caller did not hold it
        try {
            owner.acquire();
            try {
                return dispatch(r, chain, off, value, size, write);
            } finally {
                owner.release();
            }
        } finally {
            if (depth > 0) {
                ctx.reacquire(depth);
            }
        }
    }

    /** NESTED: the baseline, which deadlocks when two contexts dispatch into each other. */
    private long dispatchNested(MmioRegion r, DispatchChain chain, long addr, long off, long value, int size,
                                boolean write) {
        AioContext owner = r.owner();
        try {
            owner.acquireInterruptibly();
        } catch (InterruptedException e) {
            throw new MemoryAccessException(MemoryAccessException.Kind.INTERRUPTED,
                    "interrupted waiting for AioContext '" + owner.name() + "' to dispatch " + (write ? "write " : "read ")
                            + Hex.access(addr, size) + " to region '" + r.name() + "' (NESTED dispatch, holding "
                            + (ctx != null ? "AioContext '" + ctx.name() + "'" : "no context") + ")", e);
        }
        try {
            return dispatch(r, chain, off, value, size, write);
        } finally {
            owner.release();
        }
    }

    private static long dispatch(MmioRegion r, DispatchChain chain, long off, long value, int size, boolean write) {
        ReentrancyGuard target = r.guard();
        if (target != null) {
            chain.push(target);
        }
        try {
            if (write) {
                r.ops().write(off, value, size);
                return 0;
            }
            long v = r.ops().read(off, size);
            return size == 8 ? v : v & ((1L << (8 * size)) - 1);
        } finally {
            if (target != null) {
                chain.pop(target);
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Statistics

    /** MMIO accesses whose handler completed. Context: any thread. */
    public long mmioDispatchCount() {
        return mmioDispatches.get();
    }

    /** Completed MMIO accesses that took a context the caller did not hold. Context: any thread. */
    public long crossContextDispatchCount() {
        return crossContextDispatches.get();
    }

    /** MMIO accesses of this Dma refused by a re-entrancy guard. Context: any thread. */
    public long refusedCount() {
        return refusals.get();
    }

    @Override
    public String toString() {
        return "Dma[" + as.name() + ", " + (guard != null ? guard.device() : "cpu") + ", "
                + (ctx != null ? ctx.name() : "no context") + ", " + policy + "]";
    }
}
