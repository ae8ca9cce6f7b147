package org.mqblock.vhost;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.mqblock.nativeio.EventFd;
import org.mqblock.nativeio.Fds;
import org.mqblock.nativeio.Mapping;
import org.mqblock.nativeio.UnixSocket;
import org.mqblock.virtio.Vring;
import org.mqblock.virtio.VirtioBlkSpec;

/**
 * A vhost-user-blk backend in a test thread that speaks the protocol correctly up to the point
 * its {@link Fault} says, and there does the wrong thing: the front-end must report it clearly and
 * within a bounded time. One queue, direct descriptors, no EVENT_IDX; it serves requests (writing
 * status OK, moving no data) on a second thread that waits on the kick eventfd.
 */
final class FakeBackend implements AutoCloseable {

    enum Fault {
        NONE,
        /** Never answers GET_FEATURES. */
        SILENT_ON_GET_FEATURES,
        /** Answers GET_FEATURES with a reply to GET_PROTOCOL_FEATURES. */
        WRONG_REQUEST_IN_REPLY,
        /** Answers GET_FEATURES with a 4-byte payload. */
        SHORT_REPLY,
        /** Answers GET_FEATURES with a header announcing far more payload than any reply has. */
        OVERSIZED_REPLY,
        /** Sends 6 of a reply's 12 header bytes, then nothing. */
        HALF_A_HEADER,
        /** Refuses SET_MEM_TABLE (REPLY_ACK status 1). */
        REFUSE_MEM_TABLE,
        /** Hangs up instead of answering GET_CONFIG. */
        HANG_UP_ON_GET_CONFIG,
        /** Completes each request with the next descriptor's index instead of its head. */
        WRONG_HEAD,
        /** Completes each request twice. */
        DUPLICATE_COMPLETION,
        /** Takes requests and never completes them. */
        NEVER_COMPLETES,
        /** Completes requests without writing their status byte. */
        NO_STATUS
    }

    static final long CAPACITY_SECTORS = 2048;

    private final Fault fault;
    private final UnixSocket socket;
    private final VhostUserChannel channel;
    private final Thread control;
    private Thread data;
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private final List<Mapping> mappings = new ArrayList<>();
    private final List<long[]> regions = new ArrayList<>(); // gpa, size, uaddr
    /** Set by close (volatile); read by both backend threads. */
    private volatile boolean stop;
    // Written by the control thread before it starts the data thread (Thread.start: happens-before), then only read.
    private int num;
    private long descUaddr;
    private long availUaddr;
    private long usedUaddr;
    private EventFd kick;
    private EventFd call;

    /** Returns the backend and gives the front-end's end of the connection to {@code frontEnd[0]}. */
    FakeBackend(Fault fault, UnixSocket[] frontEnd) {
        this.fault = fault;
        UnixSocket[] pair = UnixSocket.pair();
        frontEnd[0] = pair[0];
        this.socket = pair[1];
        this.channel = new VhostUserChannel(socket);
        this.control = new Thread(this::serve, "fake-backend");
        control.setDaemon(true);
        control.start();
    }

    Throwable failure() {
        return failure.get();
    }

    private void serve() {
        try (VhostUserMessage m = new VhostUserMessage()) {
            while (!stop && channel.receive(m)) {
                if (!handle(m)) {
                    socket.shutdown(UnixSocket.SHUT_RDWR); // hang up: the front-end reads end-of-file
                    return;
                }
            }
        } catch (VhostUserException e) {
            if (!stop) {
                // the front-end hung up after it found the fault: expected
            }
        } catch (Throwable e) {
            failure.compareAndSet(null, e);
        }
    }

    private boolean handle(VhostUserMessage m) throws InterruptedException {
        int req = m.request();
        boolean ack = m.needsReply();
        switch (req) {
            case VhostUser.GET_FEATURES -> {
                switch (fault) {
                    case SILENT_ON_GET_FEATURES -> {
                        Thread.sleep(60_000);
                        return false;
                    }
                    case WRONG_REQUEST_IN_REPLY -> reply(m, VhostUser.GET_PROTOCOL_FEATURES, 0);
                    case SHORT_REPLY -> {
                        m.reply(VhostUser.GET_FEATURES).size(0).putU32(0, 1);
                        channel.send(m);
                    }
                    case OVERSIZED_REPLY -> raw(new int[] {VhostUser.GET_FEATURES, VhostUser.VERSION | VhostUser.FLAG_REPLY, 1 << 20}, 12);
                    case HALF_A_HEADER -> {
                        raw(new int[] {VhostUser.GET_FEATURES, VhostUser.VERSION | VhostUser.FLAG_REPLY, 8}, 6);
                        Thread.sleep(60_000);
                        return false;
                    }
                    default -> reply(m, req, VhostUser.bit(Vring.F_VERSION_1) | VhostUser.bit(VhostUser.F_PROTOCOL_FEATURES));
                }
            }
            case VhostUser.GET_PROTOCOL_FEATURES -> reply(m, req,
                    VhostUser.bit(VhostUser.PF_MQ) | VhostUser.bit(VhostUser.PF_REPLY_ACK) | VhostUser.bit(VhostUser.PF_CONFIG));
            case VhostUser.GET_QUEUE_NUM -> reply(m, req, 1);
            case VhostUser.GET_CONFIG -> {
                if (fault == Fault.HANG_UP_ON_GET_CONFIG) {
                    return false;
                }
                int len = m.u32(VhostUser.CONFIG_SIZE);
                m.reply(req).size(0).putU32(VhostUser.CONFIG_OFFSET, 0).putU32(VhostUser.CONFIG_SIZE, len)
                        .putU32(VhostUser.CONFIG_FLAGS, 0).putBytes(VhostUser.CONFIG_DATA, new byte[len], 0, len)
                        .putU64(VhostUser.CONFIG_DATA + VirtioBlkSpec.CONFIG_CAPACITY, CAPACITY_SECTORS);
                channel.send(m);
                return true;
            }
            case VhostUser.SET_MEM_TABLE -> {
                int n = m.u32(VhostUser.MEM_NREGIONS);
                for (int k = 0; k < n; k++) {
                    int at = VhostUser.MEM_REGIONS + k * VhostUser.REGION_BYTES;
                    long size = m.u64(at + VhostUser.REGION_SIZE);
                    regions.add(new long[] {m.u64(at + VhostUser.REGION_GPA), size, m.u64(at + VhostUser.REGION_UADDR)});
                    int fd = m.takeFd(k);
                    mappings.add(Mapping.map(fd, m.u64(at + VhostUser.REGION_MMAP_OFFSET), size));
                    Fds.close(fd);
                }
                if (ack) {
                    reply(m, req, fault == Fault.REFUSE_MEM_TABLE ? 1 : 0);
                }
                return true;
            }
            case VhostUser.SET_VRING_NUM -> num = m.u32(VhostUser.STATE_NUM);
            case VhostUser.SET_VRING_ADDR -> {
                descUaddr = m.u64(VhostUser.ADDR_DESC);
                availUaddr = m.u64(VhostUser.ADDR_AVAIL);
                usedUaddr = m.u64(VhostUser.ADDR_USED);
            }
            case VhostUser.SET_VRING_KICK -> kick = EventFd.adopt(m.takeFd(0));
            case VhostUser.SET_VRING_CALL -> call = EventFd.adopt(m.takeFd(0));
            case VhostUser.SET_VRING_ENABLE -> {
                if (m.u32(VhostUser.STATE_NUM) == 1 && data == null) {
                    data = new Thread(this::serveQueue, "fake-backend-queue");
                    data.setDaemon(true);
                    data.start();
                }
            }
            case VhostUser.GET_VRING_BASE -> {
                int index = m.u32(VhostUser.STATE_INDEX);
                m.reply(req).statePayload(index, 0);
                channel.send(m);
                return true;
            }
            default -> { }
        }
        if (ack && !VhostUser.hasReply(req)) {
            reply(m, req, 0);
        }
        return true;
    }

    private void reply(VhostUserMessage m, int request, long value) {
        m.reply(request).u64Payload(value);
        channel.send(m);
    }

    private void raw(int[] header, int bytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(12);
            for (int i = 0; i < 3; i++) {
                s.set(JAVA_INT_UNALIGNED, 4L * i, header[i]);
            }
            socket.send(s.asSlice(0, bytes));
        }
    }

    /** The segment holding front-end virtual address {@code uaddr} (or guest address {@code gpa}), from there on. */
    private MemorySegment at(long addr, boolean isGpa) {
        for (int k = 0; k < regions.size(); k++) {
            long[] r = regions.get(k);
            long base = isGpa ? r[0] : r[2];
            if (addr >= base && addr < base + r[1]) {
                return mappings.get(k).segment().asSlice(addr - base);
            }
        }
        throw new IllegalStateException("address 0x" + Long.toHexString(addr) + " is in no region");
    }

    private void serveQueue() {
        try {
            MemorySegment desc = at(descUaddr, false);
            MemorySegment avail = at(availUaddr, false);
            MemorySegment used = at(usedUaddr, false);
            int lastAvail = 0;
            int usedIdx = 0;
            while (!stop) {
                if (!kick.awaitReadable(50)) {
                    continue;
                }
                kick.read();
                int availIdx = Short.toUnsignedInt(avail.get(JAVA_SHORT_UNALIGNED, Vring.AVAIL_IDX));
                java.lang.invoke.VarHandle.acquireFence();
                while (lastAvail != availIdx) {
                    int head = Short.toUnsignedInt(avail.get(JAVA_SHORT_UNALIGNED, Vring.AVAIL_RING + 2L * (lastAvail % num)));
                    lastAvail = (lastAvail + 1) & 0xffff;
                    if (fault == Fault.NEVER_COMPLETES) {
                        continue;
                    }
                    int d = head;
                    while ((desc.get(JAVA_SHORT_UNALIGNED, 16L * d + Vring.DESC_FLAGS) & Vring.DESC_F_NEXT) != 0) {
                        d = Short.toUnsignedInt(desc.get(JAVA_SHORT_UNALIGNED, 16L * d + Vring.DESC_NEXT));
                    }
                    if (fault != Fault.NO_STATUS) {
                        at(desc.get(JAVA_LONG_UNALIGNED, 16L * d + Vring.DESC_ADDR), true).set(JAVA_BYTE, 0, (byte) VirtioBlkSpec.S_OK);
                    }
                    int id = fault == Fault.WRONG_HEAD ? (head + 1) % num : head;
                    int times = fault == Fault.DUPLICATE_COMPLETION ? 2 : 1;
                    for (int t = 0; t < times; t++) {
                        long e = Vring.USED_RING + (long) Vring.USED_ELEM_SIZE * (usedIdx % num);
                        used.set(JAVA_INT_UNALIGNED, e, id);
                        used.set(JAVA_INT_UNALIGNED, e + 4, 1);
                        usedIdx = (usedIdx + 1) & 0xffff;
                    }
                    java.lang.invoke.VarHandle.releaseFence();
                    used.set(JAVA_SHORT_UNALIGNED, Vring.USED_IDX, (short) usedIdx);
                    java.lang.invoke.VarHandle.fullFence();
                    call.signal();
                }
            }
        } catch (Throwable e) {
            if (!stop) {
                failure.compareAndSet(null, e);
            }
        }
    }

    @Override
    public void close() throws InterruptedException {
        stop = true;
        control.interrupt();
        channel.close();
        control.join(10_000);
        if (data != null) {
            data.join(10_000);
        }
        for (Mapping m : mappings) {
            m.close();
        }
        if (kick != null) {
            kick.close();
        }
        if (call != null) {
            call.close();
        }
    }
}
