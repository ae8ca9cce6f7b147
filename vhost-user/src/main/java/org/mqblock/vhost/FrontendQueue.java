package org.mqblock.vhost;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;
import org.mqblock.memory.Dma;
import org.mqblock.nativeio.EventFd;
import org.mqblock.virtio.GuestMemory;
import org.mqblock.virtio.GuestVirtqueue;
import org.mqblock.virtio.Vring;
import org.mqblock.virtio.VirtioBlkSpec;

/**
 * One virtqueue of a {@link VhostUserFrontend}, driven from one submitter thread: preallocated
 * request slots in guest RAM (a 16-byte virtio-blk header and the status byte in one block, the
 * data buffer page-aligned in another), the driver-side split ring of the guest model ({@link
 * GuestVirtqueue}) over the memfd the backend maps too, a kick eventfd written only when the
 * device asks for it (EVENT_IDX's avail_event, or the used ring's NO_NOTIFY flag), and a call
 * eventfd waited on with interrupts armed (used_event, or the NO_INTERRUPT flag cleared) unless
 * the queue polls its used ring with interrupts off.
 *
 * <h2>Use</h2>
 * <pre>
 *   int s = q.takeSlot();                       // -1 when every slot is in flight
 *   q.dma().write(q.dataAddress(s), bytes, 0, n); // a write's data
 *   q.add(s, VirtioBlkSpec.T_OUT, offset, n);    // into the ring, not yet visible
 *   q.publish();                                 // one avail index store for the batch; kick if asked
 *   q.await(completion);                         // at least one completion, handed over slot by slot
 * </pre>
 * A slot goes back to the free set just before its completion is handed over; a read's data is
 * then still in {@link #dataAddress} until the slot is taken and added again. Completions are
 * handed over after the reap that found them, so a completion may take, add and publish freely.
 *
 * <h2>Checks</h2>
 * A used element for a descriptor that heads no chain in flight (a lost, invented or duplicated
 * completion), a status byte other than OK, IOERR or UNSUPP (the header's status is set to 0xff
 * before each request, so one the backend never wrote shows), and a wait for a completion longer
 * than the completion timeout with requests in flight are each a {@link VhostUserException} naming
 * the queue and slot. Nothing is allocated per request; the syscalls are one eventfd write per kick
 * the device asked for, and per interrupt wait one {@code poll} and one eventfd read.
 *
 * <p>Not threadsafe: one submitter thread at a time. The counters ({@link #completions()}, {@link
 * #kicks()}, {@link #calls()}) may be read from any thread.
 */
public final class FrontendQueue {

    /** A completed request. */
    @FunctionalInterface
    public interface Completion {
        /**
         * @param slot the slot, free again
         * @param status {@link VirtioBlkSpec#S_OK}, {@code S_IOERR} or {@code S_UNSUPP}
         */
        void complete(int slot, int status);
    }

    /** Header and status block of a slot: header at 0, status byte at 16. */
    static final int SLOT_HEADER_BYTES = 32;
    static final int SLOT_STATUS = VirtioBlkSpec.HEADER_SIZE;
    private static final int PAGE = 4096;
    private static final int UNWRITTEN_STATUS = 0xff;

    private static final byte FREE = 0;
    private static final byte TAKEN = 1;
    private static final byte IN_FLIGHT = 2;

    private static final VarHandle COMPLETIONS;
    private static final VarHandle KICKS;
    private static final VarHandle CALLS;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            COMPLETIONS = l.findVarHandle(FrontendQueue.class, "completions", long.class);
            KICKS = l.findVarHandle(FrontendQueue.class, "kicks", long.class);
            CALLS = l.findVarHandle(FrontendQueue.class, "calls", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final int index;
    private final GuestVirtqueue ring;
    private final Dma dma;
    private final EventFd kick;
    private final EventFd call;
    private final boolean eventIdx;
    private final boolean polling;
    private final int timeoutMs;
    private final int segSize;
    private final int maxBytes;

    // Slots: addresses fixed at setup; the rest written and read by the submitter thread only.
    private final long[] headerAddr;
    private final long[] dataAddr;
    private final byte[] state;
    private final int[] type;
    private final long[] offset;
    private final int[] length;
    private final int[] freeSlots;
    private int freeCount;
    /** Per descriptor head: the slot whose chain it heads, or -1. */
    private final int[] slotOfHead;
    private final long[] addrs;
    private final int[] lens;
    private final boolean[] writable;
    /** Reaped completions, handed over after the reap: slot and status. */
    private final int[] reapedSlot;
    private final int[] reapedStatus;
    private int reaped;
    private final GuestVirtqueue.UsedSink onUsed = this::used;
    /** The header and status byte as add writes them: type and sector change, ioprio 0, status 0xff. */
    private final ByteBuffer header = ByteBuffer.allocate(SLOT_STATUS + 1).order(ByteOrder.LITTLE_ENDIAN)
            .put(SLOT_STATUS, (byte) UNWRITTEN_STATUS);
    private int inFlight;
    /** Added since the last publish. */
    private int unpublished;

    /** Completions handed over. Written by the submitter thread (opaque store); read by any thread (opaque). */
    @SuppressWarnings("unused")
    private long completions;
    /** Kicks written to the kick eventfd. Written by the submitter thread (opaque); read by any thread (opaque). */
    @SuppressWarnings("unused")
    private long kicks;
    /** Interrupts taken (call eventfd reads that found it signalled). Submitter thread writes (opaque); any thread reads (opaque). */
    @SuppressWarnings("unused")
    private long calls;

    FrontendQueue(int index, GuestMemory mem, int queueSize, boolean eventIdx, boolean indirect, int maxChain,
                  int segSize, int slots, int maxBytes, EventFd kick, EventFd call, boolean polling,
                  long completionTimeoutMs) {
        this.index = index;
        this.dma = Dma.forCpu(mem.addressSpace());
        this.ring = new GuestVirtqueue(mem, dma, queueSize, eventIdx, indirect, maxChain);
        this.kick = kick;
        this.call = call;
        this.eventIdx = eventIdx;
        this.polling = polling;
        this.timeoutMs = (int) completionTimeoutMs;
        this.segSize = segSize;
        this.maxBytes = maxBytes;
        this.headerAddr = new long[slots];
        this.dataAddr = new long[slots];
        this.state = new byte[slots];
        this.type = new int[slots];
        this.offset = new long[slots];
        this.length = new int[slots];
        this.freeSlots = new int[slots];
        long headers = mem.allocate((long) SLOT_HEADER_BYTES * slots, 16);
        long stride = ((long) Math.max(maxBytes, 1) + PAGE - 1) & -PAGE;
        long data = mem.allocate(stride * slots, PAGE);
        for (int s = 0; s < slots; s++) {
            headerAddr[s] = headers + (long) SLOT_HEADER_BYTES * s;
            dataAddr[s] = data + stride * s;
            freeSlots[s] = slots - 1 - s;
        }
        this.freeCount = slots;
        this.slotOfHead = new int[queueSize];
        java.util.Arrays.fill(slotOfHead, -1);
        this.addrs = new long[maxChain];
        this.lens = new int[maxChain];
        this.writable = new boolean[maxChain];
        this.reapedSlot = new int[slots];
        this.reapedStatus = new int[slots];
        if (polling) {
            ring.disableInterrupts();
        }
    }

    /** Guest RAM one queue needs: rings, indirect tables, slot headers and data buffers, with alignment slack. */
    static long bytesNeeded(int queueSize, int maxChain, boolean indirect, int slots, int maxBytes) {
        long stride = ((long) Math.max(maxBytes, 1) + PAGE - 1) & -PAGE;
        long rings = Vring.descTableBytes(queueSize) + Vring.availBytes(queueSize) + Vring.usedBytes(queueSize) + 64;
        long tables = indirect ? (long) queueSize * maxChain * Vring.DESC_SIZE + 16 : 0;
        return rings + tables + (long) SLOT_HEADER_BYTES * slots + 16 + stride * slots + PAGE;
    }

    // ---------------------------------------------------------------------------------------
    // Setup facts (Context: any thread)

    public int index() {
        return index;
    }

    /** Descriptors in the ring. */
    public int size() {
        return ring.size();
    }

    public int slots() {
        return state.length;
    }

    public int maxBytes() {
        return maxBytes;
    }

    public boolean polling() {
        return polling;
    }

    public boolean eventIdx() {
        return eventIdx;
    }

    GuestVirtqueue ring() {
        return ring;
    }

    EventFd kickFd() {
        return kick;
    }

    EventFd callFd() {
        return call;
    }

    // ---------------------------------------------------------------------------------------
    // Submitting (Context: the submitter thread)

    /** The Dma to fill or check slots' data buffers with (the submitter thread's). */
    public Dma dma() {
        return dma;
    }

    /** Guest address of slot {@code slot}'s data buffer ({@link #maxBytes()} bytes). */
    public long dataAddress(int slot) {
        return dataAddr[slot];
    }

    /** Requests added and not completed yet. */
    public int inFlight() {
        return inFlight;
    }

    public int freeSlotCount() {
        return freeCount;
    }

    /** A free slot, now taken, or -1 when every slot is taken or in flight. */
    public int takeSlot() {
        if (freeCount == 0) {
            return -1;
        }
        int s = freeSlots[--freeCount];
        state[s] = TAKEN;
        return s;
    }

    /**
     * Writes the request into slot {@code slot} (taken, not in flight) and adds its chain to the
     * ring: header, the data in segments of at most size_max, and the status byte. The device sees
     * it at the next {@link #publish()}.
     *
     * @param type {@link VirtioBlkSpec#T_IN}, {@code T_OUT}, {@code T_FLUSH} or {@code T_GET_ID}
     * @param offset byte offset, a multiple of 512 (ignored by FLUSH and GET_ID)
     * @param length data bytes, up to {@link #maxBytes()}; 0 for FLUSH
     */
    public void add(int slot, int type, long offset, int length) {
        if (slot < 0 || slot >= state.length || state[slot] != TAKEN) {
            throw new IllegalStateException("queue " + index + ": slot " + slot + " is not taken (state "
                    + (slot < 0 || slot >= state.length ? "out of range" : stateName(state[slot])) + ")");
        }
        if (length < 0 || length > maxBytes || (offset & (VirtioBlkSpec.SECTOR_SIZE - 1)) != 0) {
            throw new IllegalArgumentException("queue " + index + ": a request of " + length + " bytes at " + offset
                    + "; slots hold up to " + maxBytes + " bytes, offsets are multiples of 512");
        }
        long h = headerAddr[slot];
        header.putInt(VirtioBlkSpec.HEADER_TYPE, type);
        header.putLong(VirtioBlkSpec.HEADER_SECTOR, offset >>> VirtioBlkSpec.SECTOR_SHIFT);
        dma.write(h, header, 0, SLOT_STATUS + 1); // header and status byte in one access
        int n = 0;
        addrs[n] = h;
        lens[n] = VirtioBlkSpec.HEADER_SIZE;
        writable[n++] = false;
        if (length > 0 && type != VirtioBlkSpec.T_FLUSH) {
            boolean in = type == VirtioBlkSpec.T_IN || type == VirtioBlkSpec.T_GET_ID;
            for (int done = 0; done < length; done += segSize) {
                addrs[n] = dataAddr[slot] + done;
                lens[n] = Math.min(segSize, length - done);
                writable[n++] = in;
            }
        }
        addrs[n] = h + SLOT_STATUS;
        lens[n] = 1;
        writable[n++] = true;
        int head = ring.add(addrs, lens, writable, n);
        slotOfHead[head] = slot;
        this.type[slot] = type;
        this.offset[slot] = offset;
        this.length[slot] = length;
        state[slot] = IN_FLIGHT;
        inFlight++;
        unpublished++;
    }

    /**
     * Makes every request added since the last publish visible to the device (one store of the
     * avail index) and kicks if the device asks for it. Returns whether it kicked.
     */
    public boolean publish() {
        if (unpublished == 0) {
            return false;
        }
        unpublished = 0;
        if (!ring.publish()) {
            return false;
        }
        kick.signal();
        KICKS.setOpaque(this, (long) KICKS.getOpaque(this) + 1);
        return true;
    }

    /**
     * Hands every completion the device has made since the last reap to {@code sink}; returns how
     * many. Never blocks.
     *
     * @throws VhostUserException if the backend used a descriptor not in flight or wrote a status
     *     that is none of virtio-blk's
     */
    public int reap(Completion sink) {
        reaped = 0;
        try {
            ring.reap(onUsed);
        } catch (IllegalStateException e) {
            throw new VhostUserException("queue " + index + ": " + e.getMessage()
                    + " (a completion the front-end never asked for, or one it already had)", e);
        }
        int n = reaped;
        for (int i = 0; i < n; i++) {
            sink.complete(reapedSlot[i], reapedStatus[i]);
        }
        if (n > 0) {
            COMPLETIONS.setOpaque(this, (long) COMPLETIONS.getOpaque(this) + n);
            if (polling) {
                ring.disableInterrupts(); // keep EVENT_IDX's used_event far ahead of the used index
            }
        }
        return n;
    }

    /** Called by the ring's reap for each used element whose head it knows to be in flight. */
    private void used(int head, int written) {
        int slot = slotOfHead[head];
        if (slot < 0 || state[slot] != IN_FLIGHT) {
            throw new VhostUserException("queue " + index + ": the backend completed descriptor " + head
                    + ", which heads no request in flight");
        }
        slotOfHead[head] = -1;
        int status = dma.readU8(headerAddr[slot] + SLOT_STATUS);
        if (status != VirtioBlkSpec.S_OK && status != VirtioBlkSpec.S_IOERR && status != VirtioBlkSpec.S_UNSUPP) {
            throw new VhostUserException("queue " + index + ": the backend completed slot " + slot + " ("
                    + VirtioBlkSpec.typeName(type[slot]) + " of " + length[slot] + " bytes at " + offset[slot]
                    + ") with status 0x" + Integer.toHexString(status)
                    + (status == UNWRITTEN_STATUS ? ", the value set before submitting: it never wrote one" : "")
                    + "; virtio-blk has 0 (OK), 1 (IOERR), 2 (UNSUPP)");
        }
        state[slot] = FREE;
        freeSlots[freeCount++] = slot;
        inFlight--;
        reapedSlot[reaped] = slot;
        reapedStatus[reaped] = status;
        reaped++;
    }

    /**
     * Returns once at least one request completed (handing every completion found to {@code
     * sink}), or at once with 0 when none is in flight. Publishes requests still unpublished
     * first. Polling, it spins on the used ring; otherwise it arms the interrupt ({@code
     * virtqueue_enable_cb}: used_event with EVENT_IDX, else the NO_INTERRUPT flag cleared), re-checks
     * the ring and waits on the call eventfd.
     *
     * @throws VhostUserException if nothing completes within the completion timeout while requests
     *     are in flight, or as {@link #reap}
     */
    public int await(Completion sink) {
        publish();
        while (true) {
            int n = reap(sink);
            if (n > 0 || inFlight == 0) {
                return n;
            }
            if (polling) {
                spinUntilUsed();
                continue;
            }
            if (!ring.enableInterrupts()) {
                continue; // used meanwhile: reap without waiting
            }
            if (!call.awaitReadable(timeoutMs)) {
                throw stalled();
            }
            if (call.read() != EventFd.EMPTY) {
                CALLS.setOpaque(this, (long) CALLS.getOpaque(this) + 1);
            }
            if (!eventIdx) {
                ring.disableInterrupts(); // EVENT_IDX needs no disabling: the used index has passed used_event
            }
        }
    }

    private void spinUntilUsed() {
        long deadline = 0;
        for (int spins = 1; !ring.hasUsed(); spins++) {
            Thread.onSpinWait();
            if ((spins & 1023) == 0) {
                long now = System.nanoTime();
                if (deadline == 0) {
                    deadline = now + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
                } else if (now - deadline > 0) {
                    throw stalled();
                }
            }
        }
    }

    private VhostUserException stalled() {
        int oldest = -1;
        for (int s = 0; s < state.length && oldest < 0; s++) {
            if (state[s] == IN_FLIGHT) {
                oldest = s;
            }
        }
        return new VhostUserException("queue " + index + ": no completion within " + timeoutMs + " ms with "
                + inFlight + " requests in flight (slot " + oldest + ": " + VirtioBlkSpec.typeName(type[oldest])
                + " of " + length[oldest] + " bytes at " + offset[oldest] + "); " + ring
                + (polling ? ", polling" : ", interrupts armed") + ": the backend stopped serving this queue");
    }

    private static String stateName(byte s) {
        return switch (s) {
            case FREE -> "free";
            case TAKEN -> "taken";
            case IN_FLIGHT -> "in flight";
            default -> "state " + s;
        };
    }

    // ---------------------------------------------------------------------------------------
    // Counters (Context: any thread)

    /** Completions handed over so far. */
    public long completions() {
        return (long) COMPLETIONS.getOpaque(this);
    }

    /** Kicks written so far. */
    public long kicks() {
        return (long) KICKS.getOpaque(this);
    }

    /** Interrupts taken so far (0 when polling). */
    public long calls() {
        return (long) CALLS.getOpaque(this);
    }

    @Override
    public String toString() {
        return "FrontendQueue[" + index + ", " + inFlight + " in flight, " + freeCount + " free, " + ring + "]";
    }
}
