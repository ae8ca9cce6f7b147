package org.mqblock.virtio;

import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.mqblock.memory.Dma;
import org.mqblock.memory.DmaMapping;
import org.mqblock.memory.MemoryAccessException;

/**
 * The device side of one split virtqueue in guest memory ({@code VirtQueue}, virtio.c): pop
 * descriptor chains the driver made available, push them back as used, decide when the driver
 * wants an interrupt, and tell it when to kick. All guest memory access goes through the queue's
 * {@link Dma}, so dirty tracking, the migration writer gate and recursive MMIO dispatch apply.
 *
 * <p>Pop validates like {@code virtqueue_split_pop}: an available index that moved by more than
 * the queue size, a head or a {@code next} outside the table, a chain that loops or is longer than
 * its table, an indirect table of a bad size or inside another (one may end a chain of direct
 * descriptors, as VIRTIO 1.2 2.7.5.3.2 requires), readable buffers after writable
 * ones, zero-length buffers, addresses that are not RAM. Each throws a {@link VirtioError} naming
 * the problem, after unmapping whatever the chain had mapped.
 *
 * <p>Barriers follow virtio.c and name their partners: after reading the available index, an
 * acquire fence before the ring (the driver's release fence before it stores the index); before
 * storing the used index, a release fence (the driver's acquire fence after loading it); full
 * fences where each side stores and then loads the other's index or event (notification
 * suppression, the Dekker pattern).
 *
 * <p>Context: the queue's context thread (an IOThread), except {@link #configure}, {@link
 * #start}, {@link #reset} and {@link #unconfigure}, which a thread holding the queue's context
 * calls while the queue is stopped (the main loop, in VirtioBlk's start and stop).
 */
public final class VirtQueue {

    /** The most segments one request may map (QEMU's VIRTQUEUE_MAX_SIZE). */
    public static final int MAX_SEGMENTS = 1024;

    private final int index;
    private final Dma dma;

    // Written by a thread holding the queue's context while the queue is stopped; the queue's
    // thread reads them in its handlers, under the context (the lock orders them).
    private int num;
    private long descAddr;
    private long availAddr;
    private long usedAddr;
    private boolean eventIdx;
    private boolean indirect;

    // The queue's thread only.
    private int lastAvailIdx;
    private int shadowAvailIdx;
    private int usedIdx;
    /**
     * Popped and not yet pushed or detached. The queue's thread writes (single writer, volatile
     * store); the main loop reads it while it waits for a stopping queue to settle.
     */
    private volatile int inuse;
    private int signalledUsed;
    private boolean signalledUsedValid;
    private boolean notification = true;
    /**
     * The descriptor being walked, read with one access instead of one per field (each access of
     * shared guest RAM costs two fenced stores). The queue's thread only.
     */
    private final ByteBuffer desc = ByteBuffer.allocateDirect(Vring.DESC_SIZE).order(ByteOrder.LITTLE_ENDIAN);

    public VirtQueue(int index, Dma dma) {
        this.index = index;
        this.dma = dma;
    }

    /** Where the driver put the rings, and what was negotiated. Context: main loop, device stopped. */
    public void configure(int num, long descAddr, long availAddr, long usedAddr, boolean eventIdx, boolean indirect) {
        if (num < 1 || num > Vring.MAX_QUEUE_SIZE || Integer.bitCount(num) != 1) {
            throw new IllegalArgumentException("queue size must be a power of two in [1, " + Vring.MAX_QUEUE_SIZE
                    + "], got " + num);
        }
        this.num = num;
        this.descAddr = descAddr;
        this.availAddr = availAddr;
        this.usedAddr = usedAddr;
        this.eventIdx = eventIdx;
        this.indirect = indirect;
        reset();
    }

    /**
     * Sets where serving resumes: the next chain to pop is at {@code availBase} and the next used
     * element goes at {@code usedBase} (vhost-user's SET_VRING_BASE, and the used index a
     * back-end reads from the ring on start). Context: holding the queue's context, stopped.
     */
    public void start(int availBase, int usedBase) {
        if (inuse != 0) {
            throw new IllegalStateException("vq " + index + ": " + inuse + " element(s) still in flight");
        }
        lastAvailIdx = availBase & 0xffff;
        shadowAvailIdx = lastAvailIdx;
        usedIdx = usedBase & 0xffff;
        signalledUsedValid = false;
        notification = true;
    }

    /** The used index as the ring holds it (what the device wrote last). Context: as {@link #start}. */
    public int readUsedIdx() {
        try {
            return dma.readU16(usedAddr + Vring.USED_IDX);
        } catch (MemoryAccessException err) {
            throw ringFault("used ring", err);
        }
    }

    /** The next available entry the device will pop ({@code last_avail_idx}). */
    public int lastAvailIdx() {
        return lastAvailIdx;
    }

    /** Forgets the rings and the size ({@code virtio_queue_reset} of vring.num and addresses). Context: as {@link #start}. */
    public void unconfigure() {
        reset();
        num = 0;
        descAddr = 0;
        availAddr = 0;
        usedAddr = 0;
    }

    /** Forgets all ring progress ({@code virtio_queue_reset}). Context: main loop, device stopped. */
    public void reset() {
        lastAvailIdx = 0;
        shadowAvailIdx = 0;
        usedIdx = 0;
        inuse = 0;
        signalledUsed = 0;
        signalledUsedValid = false;
        notification = true;
    }

    public int index() {
        return index;
    }

    public int size() {
        return num;
    }

    public boolean isConfigured() {
        return num > 0;
    }

    /** Elements popped and not yet pushed. */
    public int inuse() {
        return inuse;
    }

    public Dma dma() {
        return dma;
    }

    // ---------------------------------------------------------------------------------------
    // Available side

    private int readAvailIdx() {
        try {
            shadowAvailIdx = dma.readU16(availAddr + Vring.AVAIL_IDX);
        } catch (MemoryAccessException e) {
            throw ringFault("available ring", e);
        }
        return shadowAvailIdx;
    }

    /**
     * A ring access failed: the memory map changed under a running queue (the rings were
     * checked when it started). A guest or front-end error, so the device breaks ({@code
     * virtio_error}), rather than the exception escaping into the IOThread.
     */
    private VirtioError ringFault(String ring, MemoryAccessException e) {
        return new VirtioError("vq " + index + ": " + ring + " access failed: " + e.getMessage(), e);
    }

    /**
     * Whether the driver has made a chain available that was not popped yet. Cheap: the poll handler.
     *
     * @throws VirtioError if the available ring is no longer RAM
     */
    public boolean hasWork() {
        return num > 0 && (lastAvailIdx != shadowAvailIdx || readAvailIdx() != lastAvailIdx);
    }

    /**
     * Takes the next available chain into {@code e}, mapping its buffers. Returns false when none is
     * available.
     *
     * @throws VirtioError if the chain or the ring is malformed (nothing stays mapped)
     */
    public boolean pop(VqElement e) {
        if (lastAvailIdx == shadowAvailIdx && readAvailIdx() == lastAvailIdx) {
            return false;
        }
        VarHandle.acquireFence(); // ring contents after the index: pairs with the driver's release fence
        int heads = (shadowAvailIdx - lastAvailIdx) & 0xffff;
        if (heads > num) {
            throw new VirtioError("vq " + index + ": avail idx moved from " + lastAvailIdx + " to " + shadowAvailIdx
                    + ", more than the queue size " + num);
        }
        int head;
        try {
            head = dma.readU16(availAddr + Vring.AVAIL_RING + 2L * (lastAvailIdx & (num - 1)));
        } catch (MemoryAccessException err) {
            throw ringFault("available ring", err);
        }
        if (head >= num) {
            throw new VirtioError("vq " + index + ": avail ring offers descriptor " + head + ", outside the table of " + num);
        }
        e.head = head;
        try {
            walkChain(e, head);
        } catch (VirtioError err) {
            e.unmapAll(dma, 0, 0);
            throw err;
        } catch (MemoryAccessException err) {
            e.unmapAll(dma, 0, 0);
            throw new VirtioError("vq " + index + ": descriptor chain at head " + head + ": " + err.getMessage(), err);
        }
        lastAvailIdx = (lastAvailIdx + 1) & 0xffff;
        inuse++;
        if (eventIdx && notification) {
            try {
                writeAvailEvent(lastAvailIdx); // kick me when you publish past what I have taken
            } catch (VirtioError err) {
                detach(e); // not handed out: nobody would push it
                throw err;
            }
        }
        return true;
    }

    /**
     * Walks the chain at {@code head}: direct descriptors, of which the last may instead refer to
     * an indirect table that the walk then continues in. VIRTIO 1.2 2.7.5.3.2: "The device MUST
     * handle the case of zero or more normal chained descriptors followed by a single descriptor
     * with flags&VIRTQ_DESC_F_INDIRECT" (QEMU's virtqueue_split_pop takes one only at the head).
     * An indirect descriptor with NEXT, or one inside a table, is refused (2.7.5.3.1: the driver
     * MUST NOT).
     */
    private void walkChain(VqElement e, int head) {
        long table = descAddr;
        int max = num;
        int i = head;
        boolean inIndirect = false;
        int entries = 0;
        while (true) {
            long addr = table + (long) Vring.DESC_SIZE * i;
            dma.read(addr, desc, 0, Vring.DESC_SIZE); // an indirect table that is not RAM fails here, by address
            int flags = desc.getShort(Vring.DESC_FLAGS) & 0xffff;
            if ((flags & Vring.DESC_F_INDIRECT) != 0) {
                if (inIndirect) {
                    throw new VirtioError("vq " + index + ": nested indirect table in descriptor " + i);
                }
                if (!indirect) {
                    throw new VirtioError("vq " + index + ": descriptor " + i + " is indirect, but INDIRECT_DESC was not negotiated");
                }
                long len = Integer.toUnsignedLong(desc.getInt(Vring.DESC_LEN));
                if (len == 0 || len % Vring.DESC_SIZE != 0 || len / Vring.DESC_SIZE > Vring.MAX_QUEUE_SIZE) {
                    throw new VirtioError("vq " + index + ": indirect table of " + len + " bytes (not a positive multiple of "
                            + Vring.DESC_SIZE + ", at most " + Vring.MAX_QUEUE_SIZE + " entries)");
                }
                if ((flags & Vring.DESC_F_NEXT) != 0) {
                    throw new VirtioError("vq " + index + ": descriptor " + i + " is both INDIRECT and NEXT");
                }
                table = desc.getLong(Vring.DESC_ADDR); // its WRITE flag is ignored (2.7.5.3.2)
                max = (int) (len / Vring.DESC_SIZE);
                i = 0;
                inIndirect = true;
                entries = 0;
                continue;
            }
            if (++entries > max) {
                throw new VirtioError("vq " + index + ": descriptor chain at head " + head + " loops or is longer than its "
                        + max + "-entry table");
            }
            long bufAddr = desc.getLong(Vring.DESC_ADDR);
            long len = Integer.toUnsignedLong(desc.getInt(Vring.DESC_LEN));
            boolean writable = (flags & Vring.DESC_F_WRITE) != 0;
            if (len == 0) {
                throw new VirtioError("vq " + index + ": descriptor " + i + " has a zero-length buffer");
            }
            if (!writable && e.inCount() > 0) {
                throw new VirtioError("vq " + index + ": descriptor " + i + " is device-readable after a device-writable one");
            }
            map(e, bufAddr, len, writable, i);
            if ((flags & Vring.DESC_F_NEXT) == 0) {
                return;
            }
            int next = desc.getShort(Vring.DESC_NEXT) & 0xffff;
            if (next >= max) {
                throw new VirtioError("vq " + index + ": descriptor " + i + " chains to " + next + ", outside the "
                        + max + "-entry table");
            }
            i = next;
        }
    }

    private void map(VqElement e, long addr, long len, boolean writable, int desc) {
        long done = 0;
        while (done < len) {
            DmaMapping m = e.nextMapping(MAX_SEGMENTS);
            int n;
            try {
                n = dma.map(addr + done, len - done, writable, m);
            } catch (MemoryAccessException err) {
                throw new VirtioError("vq " + index + ": descriptor " + desc + " buffer 0x" + Long.toHexString(addr) + "+" + len
                        + " cannot be mapped: " + err.getMessage(), err);
            }
            e.added(writable, n);
            done += n;
        }
    }

    // ---------------------------------------------------------------------------------------
    // Used side

    /**
     * Returns {@code e} to the driver as used with {@code written} bytes written into the start of
     * its writable buffers ({@code virtqueue_push}): {@link #fill} then {@link #flush} of one.
     */
    public void push(VqElement e, long written) {
        push(e, written, written, 0);
    }

    /**
     * Returns {@code e} as used with {@code usedLen} in its used element, marking dirty the first
     * {@code dirtyHead} and the last {@code dirtyTail} writable bytes (a virtio-blk request's data
     * and its status byte, which is the last byte written and must reach a migration too). If the
     * used ring is no longer RAM the element is dropped (unmapped, no longer in use) and this
     * throws.
     *
     * @throws VirtioError if the used ring cannot be written
     */
    public void push(VqElement e, long usedLen, long dirtyHead, int dirtyTail) {
        try {
            fill(e, usedLen, dirtyHead, dirtyTail, 0);
        } catch (MemoryAccessException err) {
            inuse--; // unmapped by fill: it is gone either way
            throw ringFault("used ring", err);
        }
        flush(1);
    }

    /**
     * Unmaps {@code e} (see {@link #push(VqElement, long, long, int)} for the dirty bytes) and
     * writes its used element with {@code usedLen} {@code offset} places past the used index
     * ({@code virtqueue_fill}); the driver sees it only after {@link #flush}.
     */
    public void fill(VqElement e, long usedLen, long dirtyHead, int dirtyTail, int offset) {
        e.unmapAll(dma, dirtyHead, dirtyTail);
        long slot = usedAddr + Vring.USED_RING + (long) Vring.USED_ELEM_SIZE * ((usedIdx + offset) & (num - 1));
        dma.writeU32(slot, e.head);
        dma.writeU32(slot + 4, (int) usedLen);
    }

    /**
     * Publishes {@code count} filled elements by moving the used index ({@code virtqueue_flush}).
     *
     * @throws VirtioError if the used ring cannot be written (the elements count as done)
     */
    public void flush(int count) {
        VarHandle.releaseFence(); // the elements before the index: pairs with the driver's acquire fence
        int old = usedIdx;
        usedIdx = (usedIdx + count) & 0xffff;
        inuse -= count; // before the store that may fail: a stopping queue must not wait for them
        try {
            dma.writeU16(usedAddr + Vring.USED_IDX, usedIdx);
        } catch (MemoryAccessException err) {
            throw ringFault("used ring", err);
        }
        if (((usedIdx - signalledUsed) & 0xffff) < ((usedIdx - old) & 0xffff)) {
            signalledUsedValid = false; // wrapped past the last signalled index
        }
    }

    /**
     * Drops {@code e} without returning it to the driver ({@code virtqueue_detach_element}): for a
     * request the device refuses as malformed, just before it marks itself broken.
     */
    public void detach(VqElement e) {
        e.unmapAll(dma, 0, 0);
        inuse--;
    }

    /**
     * Whether the driver wants an interrupt for what was pushed since the last one
     * ({@code virtio_should_notify}): with EVENT_IDX when the used index crossed the driver's
     * {@code used_event}, else unless the driver set NO_INTERRUPT.
     */
    public boolean shouldNotify() {
        VarHandle.fullFence(); // used entries before reading the driver's event: pairs with its fence after writing used_event
        try {
            return shouldNotifyNow();
        } catch (MemoryAccessException err) {
            throw ringFault("available ring", err);
        }
    }

    private boolean shouldNotifyNow() {
        if (!eventIdx) {
            return (dma.readU16(availAddr + Vring.AVAIL_FLAGS) & Vring.AVAIL_F_NO_INTERRUPT) == 0;
        }
        boolean valid = signalledUsedValid;
        int old = signalledUsed;
        signalledUsedValid = true;
        signalledUsed = usedIdx;
        int usedEvent = dma.readU16(availAddr + Vring.usedEventOffset(num));
        return !valid || Vring.needEvent(usedEvent, usedIdx, old);
    }

    /**
     * Asks the driver to kick, or not to ({@code virtio_queue_set_notification}): NO_NOTIFY in
     * the used flags, or with EVENT_IDX an {@code avail_event} the driver has or has not passed.
     * After enabling, the caller must look at the ring again: a chain made available before the
     * driver saw the change came without a kick.
     */
    public void setNotification(boolean enable) {
        notification = enable;
        try {
            writeNotification(enable);
        } catch (MemoryAccessException err) {
            throw ringFault("used ring", err);
        }
        if (enable) {
            VarHandle.fullFence(); // the flag or event before re-reading the avail index: pairs with the driver's fence
        }
    }

    private void writeNotification(boolean enable) {
        if (eventIdx) {
            // Enabled: kick me for the entry after what I know about. Disabled: an event already passed.
            writeAvailEvent(enable ? readAvailIdx() : (shadowAvailIdx - 1) & 0xffff);
        } else {
            int flags = dma.readU16(usedAddr + Vring.USED_FLAGS);
            dma.writeU16(usedAddr + Vring.USED_FLAGS, enable ? flags & ~Vring.USED_F_NO_NOTIFY : flags | Vring.USED_F_NO_NOTIFY);
        }
    }

    private void writeAvailEvent(int value) {
        try {
            dma.writeU16(usedAddr + Vring.availEventOffset(num), value);
        } catch (MemoryAccessException err) {
            throw ringFault("used ring", err);
        }
    }

    @Override
    public String toString() {
        return "VirtQueue[" + index + ", size " + num + ", avail " + lastAvailIdx + ", used " + usedIdx + "]";
    }
}
