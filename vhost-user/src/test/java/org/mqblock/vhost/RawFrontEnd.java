package org.mqblock.vhost;

import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.mqblock.memory.AddressSpace;
import org.mqblock.memory.RamRegion;
import org.mqblock.nativeio.EventFd;
import org.mqblock.nativeio.Mapping;
import org.mqblock.nativeio.MemFd;
import org.mqblock.nativeio.UnixSocket;
import org.mqblock.virtio.GuestMemory;
import org.mqblock.virtio.Vring;
import org.mqblock.virtio.VirtioBlkSpec;

/**
 * A vhost-user front-end for the export's tests that sends whatever the test says, in any order,
 * malformed on purpose where asked: the {@link VhostUserFrontend} speaks only the correct
 * protocol. The correct parts (negotiation, guest RAM in memfds, vring setup) are here only so a
 * test can break one step or do what VhostUserFrontend does not (send a second memory table while
 * queues run); the data path is the front-end's own {@link FrontendQueue}. Not threadsafe: the
 * control thread sends; each FrontendQueue has its submitter.
 */
final class RawFrontEnd implements AutoCloseable {

    /** Guest-physical address of region k: (k + 1) << 32, as the front-end lays them out. */
    static long gpa(int k) {
        return (k + 1L) << 32;
    }

    static final int SLOTS = 16;
    static final int BS = 4096;
    static final int QUEUE_SIZE = 64;

    /** One memfd of guest RAM, mapped here. */
    record Ram(MemFd memfd, Mapping mapping, long gpa) {
        long qva(long guestAddress) {
            return mapping.address() + (guestAddress - gpa);
        }
    }

    final UnixSocket socket;
    final VhostUserChannel channel;
    final VhostUserMessage m = new VhostUserMessage();
    final AddressSpace as = new AddressSpace("raw-front-end");
    final List<Ram> rams = new ArrayList<>();
    final List<FrontendQueue> queues = new ArrayList<>();
    private final List<EventFd> eventFds = new ArrayList<>();
    private GuestMemory mem;
    long offered;
    long features;

    private RawFrontEnd(UnixSocket socket) {
        this.socket = socket;
        this.channel = new VhostUserChannel(socket);
        socket.setReceiveTimeout(20_000);
        socket.setSendTimeout(20_000);
    }

    static RawFrontEnd connect(Path path) {
        return new RawFrontEnd(UnixSocket.connect(path));
    }

    // ---------------------------------------------------------------------------------------
    // Messages

    /** Starts a request in {@link #m}; NEED_REPLY if asked. */
    VhostUserMessage request(int request, boolean needReply) {
        return m.request(request, needReply);
    }

    void send() {
        channel.send(m);
    }

    /** Sends {@link #m} and returns the backend's reply in it; fails if the backend hung up. */
    VhostUserMessage call() {
        int req = m.request();
        channel.send(m);
        if (!channel.receive(m)) {
            throw new AssertionError("the backend hung up instead of answering " + VhostUser.name(req));
        }
        if (m.request() != req || !m.isReply()) {
            throw new AssertionError("the backend answered " + VhostUser.name(req) + " with " + m);
        }
        return m;
    }

    /** Sends {@link #m} (which should have NEED_REPLY) and returns the REPLY_ACK status. */
    long ack() {
        call();
        m.requireExactSize(VhostUser.U64_SIZE);
        return m.u64(0);
    }

    /** Sends {@link #m} with NEED_REPLY and fails unless acked 0. */
    void ackOk() {
        String what = m.toString();
        long s = ack();
        if (s != 0) {
            throw new AssertionError("the backend refused " + what + " (status " + s + ")");
        }
    }

    long getU64(int request) {
        request(request, false);
        VhostUserMessage r = call();
        r.requireExactSize(VhostUser.U64_SIZE);
        return r.u64(0);
    }

    /** Whether the backend closed the connection: the next receive finds end-of-file (or a reset). */
    boolean hungUp() {
        try {
            return !channel.receive(m);
        } catch (VhostUserException e) {
            return !e.getMessage().contains("no message came"); // a receive timeout is not a hang-up
        }
    }

    /** Sends raw bytes (a header that lies about its payload, half a header...). */
    void sendRaw(int request, int flags, int size, int bytes, int... fds) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(Math.max(bytes, VhostUser.HEADER_SIZE));
            s.set(JAVA_INT_UNALIGNED, 0, request);
            s.set(JAVA_INT_UNALIGNED, 4, flags);
            s.set(JAVA_INT_UNALIGNED, 8, size);
            socket.sendMsg(s.asSlice(0, bytes), fds);
        }
    }

    // ---------------------------------------------------------------------------------------
    // The correct steps

    /** GET_FEATURES, GET/SET_PROTOCOL_FEATURES (MQ, REPLY_ACK, CONFIG), SET_OWNER, SET_FEATURES. */
    RawFrontEnd negotiate() {
        offered = getU64(VhostUser.GET_FEATURES);
        long pf = getU64(VhostUser.GET_PROTOCOL_FEATURES);
        long want = VhostUser.bit(VhostUser.PF_MQ) | VhostUser.bit(VhostUser.PF_REPLY_ACK) | VhostUser.bit(VhostUser.PF_CONFIG);
        request(VhostUser.SET_PROTOCOL_FEATURES, false).u64Payload(pf & want);
        send();
        request(VhostUser.SET_OWNER, true);
        ackOk();
        features = offered & (VhostUser.bit(Vring.F_VERSION_1) | VhostUser.bit(Vring.F_EVENT_IDX)
                | VhostUser.bit(Vring.F_INDIRECT_DESC) | VhostUser.bit(VirtioBlkSpec.F_FLUSH)
                | VhostUser.bit(VirtioBlkSpec.F_MQ) | VhostUser.bit(VirtioBlkSpec.F_BLK_SIZE)
                | VhostUser.bit(VirtioBlkSpec.F_SEG_MAX) | VhostUser.bit(VhostUser.F_PROTOCOL_FEATURES));
        request(VhostUser.SET_FEATURES, true).u64Payload(features);
        ackOk();
        return this;
    }

    /** A new memfd of {@code size} bytes at gpa(k), mapped here; region 0 also becomes this side's guest RAM. */
    Ram newRam(long size) {
        return newRam(size, MemFd.MFD_CLOEXEC);
    }

    /** {@link #newRam(long)} with memfd_create {@code flags}. */
    Ram newRam(long size, int flags) {
        int k = rams.size();
        MemFd fd = MemFd.create("raw-guest-ram-" + k, flags);
        fd.truncate(size);
        Mapping map = fd.map(0, size);
        Ram r = new Ram(fd, map, gpa(k));
        rams.add(r);
        if (k == 0) {
            RamRegion region = RamRegion.shared("raw-ram-0", map.address(), size,
                    (off, len) -> map.segment().asSlice(off, len).asByteBuffer(), () -> { });
            as.map(r.gpa(), region);
            mem = new GuestMemory(as, region, r.gpa());
        }
        return r;
    }

    /** Puts a SET_MEM_TABLE of {@code regions} into {@link #m} (each region whole, mmap offset 0). */
    VhostUserMessage memTable(boolean needReply, Ram... regions) {
        request(VhostUser.SET_MEM_TABLE, needReply).size(0).putU32(VhostUser.MEM_NREGIONS, regions.length)
                .putU32(VhostUser.MEM_NREGIONS + 4, 0);
        int[] fds = new int[regions.length];
        for (int k = 0; k < regions.length; k++) {
            Ram r = regions[k];
            region(k, r.gpa(), r.mapping().length(), r.mapping().address(), 0);
            fds[k] = r.memfd().fd();
        }
        return m.withFds(fds);
    }

    /** Writes region {@code k} of the memory table being built in {@link #m}. */
    VhostUserMessage region(int k, long gpa, long size, long qva, long offset) {
        int at = VhostUser.MEM_REGIONS + k * VhostUser.REGION_BYTES;
        return m.putU64(at + VhostUser.REGION_GPA, gpa).putU64(at + VhostUser.REGION_SIZE, size)
                .putU64(at + VhostUser.REGION_UADDR, qva).putU64(at + VhostUser.REGION_MMAP_OFFSET, offset);
    }

    /** A front-end queue in region 0, with its kick and call eventfds; not yet told to the backend. */
    FrontendQueue newQueue() {
        EventFd kick = eventFd();
        EventFd call = eventFd();
        boolean eventIdx = VhostUser.has(features, Vring.F_EVENT_IDX);
        boolean indirect = VhostUser.has(features, Vring.F_INDIRECT_DESC);
        FrontendQueue q = new FrontendQueue(queues.size(), mem, QUEUE_SIZE, eventIdx, indirect, 3, BS, SLOTS, BS, kick, call,
                false, 20_000);
        queues.add(q);
        return q;
    }

    EventFd eventFd() {
        EventFd e = EventFd.create(EventFd.EFD_NONBLOCK | EventFd.EFD_CLOEXEC);
        eventFds.add(e);
        return e;
    }

    /** SET_VRING_NUM, BASE 0, ADDR, KICK, CALL, ENABLE 1 for queue {@code q}, each acked. */
    void setUpVring(FrontendQueue q, EventFd kick, EventFd call) {
        int i = q.index();
        Ram r = rams.get(0);
        request(VhostUser.SET_VRING_NUM, true).statePayload(i, q.size());
        ackOk();
        request(VhostUser.SET_VRING_BASE, true).statePayload(i, 0);
        ackOk();
        vringAddr(i, r.qva(q.ring().descAddr()), r.qva(q.ring().usedAddr()), r.qva(q.ring().availAddr()));
        ackOk();
        request(VhostUser.SET_VRING_KICK, true).u64Payload(i).withFds(kick.fd());
        ackOk();
        request(VhostUser.SET_VRING_CALL, true).u64Payload(i).withFds(call.fd());
        ackOk();
        request(VhostUser.SET_VRING_ENABLE, true).statePayload(i, 1);
        ackOk();
    }

    VhostUserMessage vringAddr(int i, long desc, long used, long avail) {
        return request(VhostUser.SET_VRING_ADDR, true).size(0).putU32(VhostUser.ADDR_INDEX, i)
                .putU32(VhostUser.ADDR_FLAGS, 0).putU64(VhostUser.ADDR_DESC, desc).putU64(VhostUser.ADDR_USED, used)
                .putU64(VhostUser.ADDR_AVAIL, avail).putU64(VhostUser.ADDR_LOG, 0);
    }

    /** Everything up to running queues: negotiate, one region of {@code ramBytes}, {@code n} queues. */
    RawFrontEnd start(int n, long ramBytes) {
        negotiate();
        newRam(ramBytes);
        memTable(true, rams.get(0));
        ackOk();
        for (int i = 0; i < n; i++) {
            FrontendQueue q = newQueue();
            setUpVring(q, q.kickFd(), q.callFd());
        }
        return this;
    }

    /** SET_VRING_ENABLE 0 and GET_VRING_BASE: the backend's last_avail_idx for queue {@code i}. */
    int stop(int i) {
        request(VhostUser.SET_VRING_ENABLE, true).statePayload(i, 0);
        ackOk();
        return getVringBase(i);
    }

    /** GET_VRING_BASE alone: the backend's last_avail_idx for queue {@code i}. */
    int getVringBase(int i) {
        request(VhostUser.GET_VRING_BASE, false).statePayload(i, 0);
        VhostUserMessage r = call();
        r.requireExactSize(VhostUser.STATE_SIZE);
        return r.u32(VhostUser.STATE_NUM);
    }

    /**
     * {@link FrontendDriver#pass}'s pass over these queues (block b on queue b mod n), one
     * submitter thread each; rethrows the first failure.
     */
    static FrontendDriver.Pass[] pass(List<FrontendQueue> qs, int type, long blocks, int bs, int depth, int generation,
                                      boolean check) throws InterruptedException {
        int nq = qs.size();
        FrontendDriver.Pass[] passes = new FrontendDriver.Pass[nq];
        java.util.concurrent.atomic.AtomicReference<Throwable> failure = new java.util.concurrent.atomic.AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        for (int qi = 0; qi < nq; qi++) {
            FrontendQueue q = qs.get(qi);
            FrontendDriver.Pass p = new FrontendDriver.Pass((int) blocks);
            passes[qi] = p;
            int first = qi;
            Thread t = new Thread(() -> {
                try {
                    run(q, p, type, first, nq, blocks, bs, depth, generation, check);
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }, "raw-submitter-" + qi);
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            t.join();
        }
        if (failure.get() != null) {
            throw new AssertionError("a submitter failed: " + failure.get(), failure.get());
        }
        return passes;
    }

    private static void run(FrontendQueue q, FrontendDriver.Pass p, int type, int first, int stride, long blocks, int bs,
                            int depth, int generation, boolean check) {
        long[] blockOfSlot = new long[q.slots()];
        byte[] buf = new byte[bs];
        FrontendQueue.Completion done = (slot, status) -> {
            long b = blockOfSlot[slot];
            p.completedPerBlock[(int) b]++;
            if (status != VirtioBlkSpec.S_OK) {
                p.notOk++;
            } else if (type == VirtioBlkSpec.T_IN && check) {
                q.dma().read(q.dataAddress(slot), buf, 0, bs);
                if (!java.util.Arrays.equals(buf, FrontendDriver.pattern(b, generation, bs)) && p.wrongData++ == 0) {
                    p.firstWrong = "queue " + q.index() + ": block " + b + " read back other bytes";
                }
            }
        };
        long next = first;
        while (next < blocks || q.inFlight() > 0) {
            while (next < blocks && q.inFlight() < depth) {
                int s = q.takeSlot();
                if (s < 0) {
                    break;
                }
                blockOfSlot[s] = next;
                if (type == VirtioBlkSpec.T_OUT) {
                    q.dma().write(q.dataAddress(s), FrontendDriver.pattern(next, generation, bs), 0, bs);
                }
                q.add(s, type, next * bs, bs);
                next += stride;
            }
            q.publish();
            q.await(done);
        }
    }

    /** This process's fds whose link names a memfd named {@code raw-guest-ram-*}: ours and the backend's. */
    static long guestRamFds() {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return s.filter(p -> {
                try {
                    return Files.readSymbolicLink(p).toString().startsWith("/memfd:raw-guest-ram-");
                } catch (IOException e) {
                    return false; // the listing's own fd, gone
                }
            }).count();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
        channel.close();
        m.close();
        for (EventFd e : eventFds) {
            e.close();
        }
        if (mem != null) {
            mem.close();
        }
        for (Ram r : rams) {
            r.mapping().close();
            r.memfd().close();
        }
    }
}
