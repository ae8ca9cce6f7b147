package org.mqblock.memory;

import java.nio.ByteBuffer;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * A zero-copy view of guest RAM from {@link Dma#map} until {@link Dma#unmap} ({@code
 * address_space_map}'s host pointer). Reusable: map into the same object again after unmapping,
 * so mapping allocates nothing ({@link #byteBuffer()} allocates a view on demand).
 *
 * <p>Writes through the view are not seen by dirty logging until {@code unmap} marks the pages
 * written; a writable mapping holds the address space's {@link WriteGate} open, so {@link
 * WriteGate#pause()} waits for it to be unmapped. Writing through a read mapping is a bug that
 * nothing tracks.
 *
 * <p>A mapping is a use of its {@link RamRegion}: until it is unmapped, the region's memory is
 * neither freed nor handed back to the owner of shared memory, even if the region is meanwhile
 * unmapped from the address space and closed. Using the views after {@link Dma#unmap} is a bug
 * that nothing tracks either.
 *
 * <p>Not thread-safe: the fields belong to the thread that maps; handing a mapping to another
 * thread (an I/O worker) needs the usual happens-before (a queue, a bottom half).
 */
public final class DmaMapping {

    private static final byte[] NOTHING = new byte[0];

    private final UnsafeBuffer view = new UnsafeBuffer(NOTHING);

    // Plain fields of the thread that maps and unmaps.
    boolean mapped;
    boolean write;
    RamRegion region;
    long regionOffset;
    long guestAddr;
    int length;
    UnsafeBuffer chunk;
    int chunkOffset;
    WriteGate gate;
    WriteGate.Slot slot;

    void set(RamRegion region, long regionOffset, long guestAddr, UnsafeBuffer chunk, int chunkOffset, int length,
             boolean write, WriteGate gate, WriteGate.Slot slot) {
        this.region = region;
        this.regionOffset = regionOffset;
        this.guestAddr = guestAddr;
        this.chunk = chunk;
        this.chunkOffset = chunkOffset;
        this.length = length;
        this.write = write;
        this.gate = gate;
        this.slot = slot;
        view.wrap(chunk.addressOffset() + chunkOffset, length);
        this.mapped = true;
    }

    void clear() {
        view.wrap(NOTHING);
        mapped = false;
        region = null;
        chunk = null;
        gate = null;
        slot = null;
        length = 0;
    }

    /** The mapped bytes, index 0 at {@link #guestAddress()}. Valid until unmapped. Context: the mapping's thread. */
    public UnsafeBuffer buffer() {
        checkMapped();
        return view;
    }

    /**
     * A {@link ByteBuffer} over the mapped bytes (read-only for a read mapping), for channel I/O
     * straight into guest memory. Allocates the view object. Valid until unmapped. Context: the
     * mapping's thread.
     */
    public ByteBuffer byteBuffer() {
        checkMapped();
        ByteBuffer b = chunk.byteBuffer().slice(chunkOffset, length);
        return write ? b : b.asReadOnlyBuffer();
    }

    /**
     * The direct buffer of the whole RAM chunk holding the mapping, which every other user of that
     * chunk shares: the mapping is {@code [chunkIndex(), chunkIndex() + length())} of it. Use
     * absolute accesses only (never its position). Allocates nothing, unlike {@link #byteBuffer()}.
     * Context: the mapping's thread.
     */
    public ByteBuffer chunkBuffer() {
        checkMapped();
        return chunk.byteBuffer();
    }

    /** Where the mapping starts in {@link #chunkBuffer()}. */
    public int chunkIndex() {
        checkMapped();
        return chunkOffset;
    }

    public long guestAddress() {
        checkMapped();
        return guestAddr;
    }

    /** Mapped length: at most what was asked, less where the RAM chunk ends. */
    public int length() {
        checkMapped();
        return length;
    }

    public boolean isWrite() {
        return write;
    }

    public boolean isMapped() {
        return mapped;
    }

    private void checkMapped() {
        if (!mapped) {
            throw new IllegalStateException("DmaMapping is not mapped");
        }
    }

    @Override
    public String toString() {
        return mapped ? "DmaMapping[" + Hex.access(guestAddr, length) + (write ? ", write" : ", read") + " in '"
                + region.name() + "']" : "DmaMapping[unmapped]";
    }
}
