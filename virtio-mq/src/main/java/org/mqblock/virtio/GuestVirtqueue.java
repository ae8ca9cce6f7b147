package org.mqblock.virtio;

import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.mqblock.memory.Dma;

/**
 * The driver side of a split virtqueue, as a guest kernel runs it (Linux's virtio_ring.c, split
 * layout): rings allocated in guest RAM, a free list of descriptors, chains added and published
 * to the available ring, kicks only when the device asks for them, and used buffers reaped back.
 * Chains of more than one segment go through an indirect table when INDIRECT_DESC is on.
 *
 * <p>Not threadsafe: one vCPU thread at a time (the single-queue modes share one under a lock).
 * Every guest memory access goes through the vCPU's {@link Dma}, so writes are dirty-tracked.
 * A descriptor is written in one 16-byte access (an indirect table in one access for the whole
 * chain), not field by field: on guest RAM shared with another process each access enters the
 * region's access tracker, and the fields need no ordering among themselves (the avail index's
 * release fence orders them all before the device reads any).
 */
public final class GuestVirtqueue {

    /** What a reap reports for each used chain. */
    @FunctionalInterface
    public interface UsedSink {
        void used(int head, int writtenBytes);
    }

    private final Dma dma;
    private final int num;
    private final boolean eventIdx;
    private final boolean indirect;
    private final int maxChain;
    private final long desc;
    private final long avail;
    private final long used;
    /** One indirect table per descriptor, used when that descriptor heads an indirect chain. */
    private final long indirectTables;

    // The driving thread only.
    private final int[] freeList;
    private int freeCount;
    /** Per head: the descriptors its chain took, for the free list (preallocated, maxChain each). */
    private final int[][] chains;
    /** Per head: how many descriptors its chain took; 0 when it heads no chain in flight. */
    private final int[] chainLength;
    private int availIdx;
    private int addedSinceKickCheck;
    private int lastUsedIdx;
    private long kicks;
    /** One chain's descriptors, composed before their single write (little-endian, maxChain x 16 bytes). */
    private final ByteBuffer descScratch;

    public GuestVirtqueue(GuestMemory mem, Dma dma, int num, boolean eventIdx, boolean indirect, int maxChain) {
        if (num < 1 || Integer.bitCount(num) != 1 || num > Vring.MAX_QUEUE_SIZE) {
            throw new IllegalArgumentException("queue size must be a power of two up to " + Vring.MAX_QUEUE_SIZE + ", got " + num);
        }
        this.dma = dma;
        this.num = num;
        this.eventIdx = eventIdx;
        this.indirect = indirect;
        this.maxChain = maxChain;
        this.desc = mem.allocate(Vring.descTableBytes(num), 16);
        this.avail = mem.allocate(Vring.availBytes(num), 2);
        this.used = mem.allocate(Vring.usedBytes(num), 4);
        this.indirectTables = indirect ? mem.allocate((long) num * maxChain * Vring.DESC_SIZE, 16) : 0;
        this.freeList = new int[num];
        for (int i = 0; i < num; i++) {
            freeList[i] = num - 1 - i;
        }
        this.freeCount = num;
        this.chains = new int[num][maxChain];
        this.chainLength = new int[num];
        this.descScratch = ByteBuffer.allocate(maxChain * Vring.DESC_SIZE).order(ByteOrder.LITTLE_ENDIAN);
    }

    public long descAddr() {
        return desc;
    }

    public long availAddr() {
        return avail;
    }

    public long usedAddr() {
        return used;
    }

    public int size() {
        return num;
    }

    /** Kicks the device asked for so far (each one a notify-register write, a VM exit). */
    public long kicks() {
        return kicks;
    }

    /** Chains that can still be added now (an indirect chain takes one descriptor). */
    public boolean canAdd(int segments) {
        return freeCount >= (indirect && segments > 1 ? 1 : segments);
    }

    /**
     * Adds a chain of {@code count} segments, the device-readable ones first, and returns its
     * head; nothing is visible to the device until {@link #publish()}.
     *
     * @throws IllegalStateException without enough free descriptors
     */
    public int add(long[] addrs, int[] lens, boolean[] writable, int count) {
        if (count < 1 || count > maxChain) {
            throw new IllegalArgumentException("a chain has 1 to " + maxChain + " segments, got " + count);
        }
        if (!canAdd(count)) {
            throw new IllegalStateException("virtqueue full: " + freeCount + " free descriptors");
        }
        int head;
        if (indirect && count > 1) {
            head = take();
            long table = indirectTables + (long) head * maxChain * Vring.DESC_SIZE;
            for (int i = 0; i < count; i++) {
                composeDesc(i, addrs[i], lens[i], writable[i], i + 1 < count ? i + 1 : -1);
            }
            dma.write(table, descScratch, 0, count * Vring.DESC_SIZE);
            composeRaw(0, table, count * Vring.DESC_SIZE, Vring.DESC_F_INDIRECT, 0);
            dma.write(desc + (long) Vring.DESC_SIZE * head, descScratch, 0, Vring.DESC_SIZE);
            chains[head][0] = head;
            chainLength[head] = 1;
        } else {
            head = freeList[freeCount - 1];
            int[] ids = chains[head];
            for (int i = 0; i < count; i++) {
                ids[i] = take();
            }
            for (int i = 0; i < count; i++) {
                composeDesc(0, addrs[i], lens[i], writable[i], i + 1 < count ? ids[i + 1] : -1);
                dma.write(desc + (long) Vring.DESC_SIZE * ids[i], descScratch, 0, Vring.DESC_SIZE);
            }
            chainLength[head] = count;
        }
        dma.writeU16(avail + Vring.AVAIL_RING + 2L * (availIdx & (num - 1)), head);
        availIdx = (availIdx + 1) & 0xffff;
        addedSinceKickCheck++;
        return head;
    }

    private int take() {
        return freeList[--freeCount];
    }

    /** Composes descriptor {@code slot} of the scratch chain. */
    private void composeDesc(int slot, long addr, int len, boolean writable, int next) {
        int flags = (writable ? Vring.DESC_F_WRITE : 0) | (next >= 0 ? Vring.DESC_F_NEXT : 0);
        composeRaw(slot, addr, len, flags, Math.max(next, 0));
    }

    private void composeRaw(int slot, long addr, int len, int flags, int next) {
        int at = slot * Vring.DESC_SIZE;
        descScratch.putLong(at + Vring.DESC_ADDR, addr);
        descScratch.putInt(at + Vring.DESC_LEN, len);
        descScratch.putShort(at + Vring.DESC_FLAGS, (short) flags);
        descScratch.putShort(at + Vring.DESC_NEXT, (short) next);
    }

    /**
     * Makes the added chains visible to the device and returns whether it wants a kick
     * ({@code virtqueue_kick_prepare}); the caller then kicks (an ioeventfd write) if so.
     */
    public boolean publish() {
        VarHandle.releaseFence(); // ring entries and descriptors before the index: pairs with the device's acquire fence
        dma.writeU16(avail + Vring.AVAIL_IDX, availIdx);
        VarHandle.fullFence(); // the index before reading the device's event or flags: pairs with its setNotification fence
        int newIdx = availIdx;
        int oldIdx = (availIdx - addedSinceKickCheck) & 0xffff;
        addedSinceKickCheck = 0;
        boolean kick;
        if (eventIdx) {
            kick = Vring.needEvent(dma.readU16(used + Vring.availEventOffset(num)), newIdx, oldIdx);
        } else {
            kick = (dma.readU16(used + Vring.USED_FLAGS) & Vring.USED_F_NO_NOTIFY) == 0;
        }
        if (kick) {
            kicks++;
        }
        return kick;
    }

    /** Hands every chain the device has used since the last reap to {@code sink}; returns how many. */
    public int reap(UsedSink sink) {
        int usedIdx = dma.readU16(used + Vring.USED_IDX);
        if (usedIdx == lastUsedIdx) {
            return 0;
        }
        VarHandle.acquireFence(); // the index before the elements: pairs with the device's release fence
        int n = 0;
        while (lastUsedIdx != usedIdx) {
            long elem = used + Vring.USED_RING + (long) Vring.USED_ELEM_SIZE * (lastUsedIdx & (num - 1));
            int head = dma.readU32(elem);
            int len = dma.readU32(elem + 4);
            if (head < 0 || head >= num || chainLength[head] == 0) {
                throw new IllegalStateException("device returned descriptor " + head + ", which is not in flight");
            }
            int[] ids = chains[head];
            for (int i = chainLength[head] - 1; i >= 0; i--) {
                freeList[freeCount++] = ids[i];
            }
            chainLength[head] = 0;
            lastUsedIdx = (lastUsedIdx + 1) & 0xffff;
            n++;
            sink.used(head, len);
        }
        return n;
    }

    /** Whether the device has used chains not reaped yet. */
    public boolean hasUsed() {
        return dma.readU16(used + Vring.USED_IDX) != lastUsedIdx;
    }

    /**
     * Asks for an interrupt at the next used chain ({@code virtqueue_enable_cb}). Returns false if
     * chains were used meanwhile: the caller must reap before waiting.
     */
    public boolean enableInterrupts() {
        if (eventIdx) {
            dma.writeU16(avail + Vring.usedEventOffset(num), lastUsedIdx);
        } else {
            int flags = dma.readU16(avail + Vring.AVAIL_FLAGS);
            dma.writeU16(avail + Vring.AVAIL_FLAGS, flags & ~Vring.AVAIL_F_NO_INTERRUPT);
        }
        VarHandle.fullFence(); // the event or flag before re-reading used idx: pairs with the device's shouldNotify fence
        return !hasUsed();
    }

    /** Asks for no interrupts while the driver reaps or polls ({@code virtqueue_disable_cb}). */
    public void disableInterrupts() {
        if (eventIdx) {
            dma.writeU16(avail + Vring.usedEventOffset(num), (lastUsedIdx + 0x8000) & 0xffff); // an event far ahead
        } else {
            int flags = dma.readU16(avail + Vring.AVAIL_FLAGS);
            dma.writeU16(avail + Vring.AVAIL_FLAGS, flags | Vring.AVAIL_F_NO_INTERRUPT);
        }
    }

    @Override
    public String toString() {
        return "GuestVirtqueue[size " + num + ", avail " + availIdx + ", used " + lastUsedIdx + ", " + freeCount + " free]";
    }
}
