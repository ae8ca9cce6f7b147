package org.mqblock.virtio;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.mqblock.core.loop.FdSignal;
import org.mqblock.memory.Dma;
import org.mqblock.nativeio.Epoll;
import org.mqblock.nativeio.EventFd;

/**
 * A guest driver in "another process" for one virtqueue: it reaches the device only through guest
 * RAM and eventfds, as a vhost-user front-end's guest does. It writes the kick fd when the device
 * asks for a kick and sleeps on its call fds (an epoll set, so the test can swap them under it).
 *
 * <p>Each slot owns one 4 KiB block and alternates a write of a fresh pattern with a read that
 * must return it, so a lost, duplicated or misplaced completion shows: {@link GuestVirtqueue#reap}
 * refuses a head that is not in flight, a read that does not match fails, and a lost interrupt
 * leaves the guest asleep until {@link #WAIT_NS} passes. Not threadsafe except {@link #addCall}
 * and {@link #removeCall}, which another thread may call while the guest waits.
 */
final class FdGuest implements AutoCloseable {

    static final int DATA = 4096;
    /** How long the guest sleeps without any interrupt before it calls one lost. */
    static final long WAIT_NS = TimeUnit.SECONDS.toNanos(20);

    final GuestVirtqueue ring;
    final EventFd kick = EventFd.create(EventFd.EFD_NONBLOCK | EventFd.EFD_CLOEXEC);
    private final Dma dma;
    private final Epoll callWait = Epoll.create(8);
    /** Call fds the guest sleeps on, by fd number; the guest and a swapping thread (concurrent map). */
    private final ConcurrentHashMap<Integer, FdSignal> calls = new ConcurrentHashMap<>();
    private final long[] header;
    private final long[] data;
    private final long[] status;
    private final int[] generation;
    private final boolean[] reading;
    private final boolean[] busy;
    private final int[] slotOfHead;
    private final long firstBlock;
    private final long[] addrs = new long[3];
    private final int[] lens = new int[3];
    private final boolean[] writable = new boolean[3];
    private final ByteBuffer hdr = ByteBuffer.allocate(VirtioBlkSpec.HEADER_SIZE).order(ByteOrder.LITTLE_ENDIAN);
    private final ByteBuffer buf = ByteBuffer.allocate(DATA);
    private final ByteBuffer want = ByteBuffer.allocate(DATA);
    private final ByteBuffer zeros = ByteBuffer.allocate(DATA);
    private final GuestVirtqueue.UsedSink sink = this::used;
    long submitted;
    long completed;
    long kicks;
    long sleeps;

    /** {@code depth} slots whose blocks start at block {@code firstBlock}; rings of {@code size}. */
    FdGuest(GuestMemory mem, int size, boolean eventIdx, int depth, long firstBlock) {
        this.dma = Dma.forCpu(mem.addressSpace());
        this.ring = new GuestVirtqueue(mem, dma, size, eventIdx, true, 3);
        this.firstBlock = firstBlock;
        header = new long[depth];
        data = new long[depth];
        status = new long[depth];
        generation = new int[depth];
        reading = new boolean[depth];
        busy = new boolean[depth];
        slotOfHead = new int[size];
        for (int s = 0; s < depth; s++) {
            header[s] = mem.allocate(VirtioBlkSpec.HEADER_SIZE, 16);
            data[s] = mem.allocate(DATA, 4096);
            status[s] = mem.allocate(1, 1);
        }
    }

    /** Starts the device's queue {@code q} on this guest's rings at {@code base}, with its kick fd. */
    void startOn(VirtioBlk device, int q, int base) {
        device.startQueue(q, ring.size(), ring.descAddr(), ring.availAddr(), ring.usedAddr(), base, kick);
    }

    /** Sleeps on {@code call} too. Context: any thread. */
    void addCall(FdSignal call) {
        calls.put(call.fd(), call);
        callWait.add(call.fd(), Epoll.EPOLLIN, call.fd());
    }

    /** Stops sleeping on {@code call}. Context: any thread. */
    void removeCall(FdSignal call) {
        callWait.delete(call.fd());
        calls.remove(call.fd());
    }

    /** Fills every free slot while fewer than {@code limit} requests were submitted, publishes, kicks if asked. */
    void submitUpTo(long limit) {
        boolean added = false;
        for (int s = 0; s < busy.length && submitted < limit; s++) {
            if (!busy[s]) {
                add(s);
                added = true;
            }
        }
        if (added && ring.publish()) {
            kicks++;
            kick.signal();
        }
    }

    private void add(int s) {
        boolean read = reading[s];
        long sector = (firstBlock + s) * (DATA / VirtioBlkSpec.SECTOR_SIZE);
        hdr.putInt(VirtioBlkSpec.HEADER_TYPE, read ? VirtioBlkSpec.T_IN : VirtioBlkSpec.T_OUT);
        hdr.putInt(VirtioBlkSpec.HEADER_IOPRIO, 0);
        hdr.putLong(VirtioBlkSpec.HEADER_SECTOR, sector);
        dma.write(header[s], hdr, 0, VirtioBlkSpec.HEADER_SIZE);
        dma.writeU8(status[s], 0xff);
        if (!read) {
            pattern(s, generation[s], buf);
            dma.write(data[s], buf, 0, DATA);
        } else {
            dma.write(data[s], zeros, 0, DATA); // the read must bring it back
        }
        addrs[0] = header[s];
        lens[0] = VirtioBlkSpec.HEADER_SIZE;
        writable[0] = false;
        addrs[1] = data[s];
        lens[1] = DATA;
        writable[1] = read;
        addrs[2] = status[s];
        lens[2] = 1;
        writable[2] = true;
        int head = ring.add(addrs, lens, writable, 3);
        slotOfHead[head] = s;
        busy[s] = true;
        submitted++;
    }

    /** Reaps what the device used; returns how many. */
    int reap() {
        return ring.reap(sink);
    }

    private void used(int head, int written) {
        int s = slotOfHead[head];
        if (!busy[s]) {
            throw new AssertionError("head " + head + " completed for slot " + s + ", which has nothing in flight");
        }
        int st = dma.readU8(status[s]);
        if (st != VirtioBlkSpec.S_OK) {
            throw new AssertionError("slot " + s + " (" + (reading[s] ? "read" : "write") + "): status " + st);
        }
        if (reading[s]) {
            dma.read(data[s], buf, 0, DATA);
            pattern(s, generation[s], want);
            if (!buf.equals(want)) {
                throw new AssertionError("slot " + s + ": read of generation " + generation[s] + " returned other data");
            }
            generation[s]++;
        }
        reading[s] = !reading[s];
        busy[s] = false;
        completed++;
    }

    /**
     * Submits and completes requests until {@code total} have completed, sleeping on the call fds
     * whenever nothing is left to reap (after re-arming the interrupt, as virtqueue_enable_cb).
     *
     * @throws AssertionError if no interrupt comes for {@link #WAIT_NS} while requests are in flight
     */
    void run(long total) {
        while (completed < total) {
            submitUpTo(total);
            if (reap() > 0) {
                continue;
            }
            if (!ring.enableInterrupts()) {
                continue; // used meanwhile
            }
            sleeps++;
            int n = callWait.await(WAIT_NS);
            if (n == 0) {
                throw new AssertionError("no interrupt for " + TimeUnit.NANOSECONDS.toSeconds(WAIT_NS) + " s with "
                        + (submitted - completed) + " request(s) in flight (" + completed + " completed): lost");
            }
            for (int i = 0; i < n; i++) {
                FdSignal c = calls.get((int) callWait.data(i));
                if (c != null) {
                    c.testAndClear();
                }
            }
        }
    }

    /** Makes {@code head} available as is and kicks, past the ring's bookkeeping: a malicious guest. */
    void offerRaw(int head) {
        int idx = dma.readU16(ring.availAddr() + Vring.AVAIL_IDX);
        dma.writeU16(ring.availAddr() + Vring.AVAIL_RING + 2L * (idx % ring.size()), head);
        java.lang.invoke.VarHandle.releaseFence();
        dma.writeU16(ring.availAddr() + Vring.AVAIL_IDX, (idx + 1) & 0xffff);
        java.lang.invoke.VarHandle.fullFence();
        kick.signal();
    }

    int usedIdx() {
        return dma.readU16(ring.usedAddr() + Vring.USED_IDX);
    }

    static void pattern(int slot, int gen, ByteBuffer into) {
        for (int i = 0; i < DATA; i += 8) {
            into.putLong(i, (long) slot << 48 ^ (long) gen << 24 ^ i);
        }
    }

    @Override
    public void close() {
        callWait.close();
        kick.close();
    }
}
