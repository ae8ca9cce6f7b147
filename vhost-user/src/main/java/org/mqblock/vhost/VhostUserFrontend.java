package org.mqblock.vhost;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.mqblock.memory.AddressSpace;
import org.mqblock.memory.RamRegion;
import org.mqblock.nativeio.EventFd;
import org.mqblock.nativeio.Mapping;
import org.mqblock.nativeio.MemFd;
import org.mqblock.nativeio.NativeException;
import org.mqblock.nativeio.UnixSocket;
import org.mqblock.virtio.GuestMemory;
import org.mqblock.virtio.Vring;
import org.mqblock.virtio.VirtioBlkSpec;

/**
 * A vhost-user-blk front-end in this process: what QEMU's {@code hw/virtio/vhost-user.c} and
 * {@code vhost-user-blk.c} do for a guest, and libblkio's virtio-blk-vhost-user driver does for a
 * userspace program. It connects to a backend's socket, negotiates, shares guest RAM (memfds it
 * maps here and hands over with SET_MEM_TABLE), lays out one split virtqueue per queue in that RAM
 * with the driver-side ring the guest model uses ({@link org.mqblock.virtio.GuestVirtqueue}),
 * gives each queue a kick and a call eventfd, and hands out one {@link FrontendQueue} per queue
 * for one submitter thread each.
 *
 * <h2>Handshake (Context: the thread that calls {@link #connect})</h2>
 * GET_FEATURES; GET/SET_PROTOCOL_FEATURES (MQ, REPLY_ACK, CONFIG where offered); GET_QUEUE_NUM
 * (with MQ); SET_OWNER; GET_CONFIG (capacity, size_max, seg_max, blk_size, num_queues); SET_FEATURES
 * (VERSION_1 required; EVENT_IDX, INDIRECT_DESC as asked; the blk features this driver
 * understands); SET_MEM_TABLE; then per queue SET_VRING_NUM, SET_VRING_BASE 0, SET_VRING_ADDR (our
 * virtual addresses), SET_VRING_KICK, SET_VRING_CALL (EFD_NONBLOCK eventfds, as QEMU makes them) and
 * SET_VRING_ENABLE 1. With REPLY_ACK every request that has no reply of its own is sent with
 * NEED_REPLY and its ack awaited, so a refusal is reported by the request that caused it.
 *
 * <h2>A backend that misbehaves</h2>
 * Every reply is awaited with the socket's receive timeout ({@link Options#replyTimeoutMs}), and
 * must be a REPLY to the request just sent with exactly the payload that request's reply has: a
 * backend that answers nothing, answers another request, or sends a short or oversized payload is
 * a {@link VhostUserException} naming the request, never a hang. On the data path a queue refuses
 * used elements for descriptors not in flight, status bytes that are not virtio-blk statuses, and
 * waits for a completion at most {@link Options#completionTimeoutMs} (see {@link FrontendQueue}).
 * After such an exception the connection is unusable: {@link #close()} it.
 *
 * <h2>Threads</h2>
 * The connecting thread (the "control thread") owns the socket: connect and close run there, and
 * nothing else sends on it. Each {@link FrontendQueue} is used by one submitter thread at a time;
 * {@link #close()} comes after those threads stopped using their queues (join them first).
 */
public final class VhostUserFrontend implements AutoCloseable {

    /** Guest-physical address of region 0; region k sits at {@code (k + 1) << 32} (never an identity map). */
    static final long GPA_STRIDE = 1L << 32;
    /** VIRTIO_BLK_F_RO: the backend refuses writes. */
    public static final int BLK_F_RO = 5;

    /** The device features this driver may accept when offered (besides those Options turn on). */
    private static final long UNDERSTOOD = VhostUser.bit(VirtioBlkSpec.F_SIZE_MAX) | VhostUser.bit(VirtioBlkSpec.F_SEG_MAX)
            | VhostUser.bit(VirtioBlkSpec.F_BLK_SIZE) | VhostUser.bit(VirtioBlkSpec.F_FLUSH)
            | VhostUser.bit(VirtioBlkSpec.F_MQ) | VhostUser.bit(BLK_F_RO) | VhostUser.bit(Vring.F_VERSION_1)
            | VhostUser.bit(VhostUser.F_PROTOCOL_FEATURES);
    private static final long WANTED_PROTOCOL = VhostUser.bit(VhostUser.PF_MQ) | VhostUser.bit(VhostUser.PF_REPLY_ACK)
            | VhostUser.bit(VhostUser.PF_CONFIG);

    /**
     * What to set up. Validated as a whole when built.
     *
     * @param queues virtqueues to drive; 0: as many as the backend has
     * @param queueSize descriptors per queue (a power of two); 0: the smallest of at least 256 that
     *     holds every slot's chain
     * @param slots request slots per queue (the most requests one queue has in flight)
     * @param maxBytes the largest data buffer of one request
     * @param eventIdx negotiate VIRTIO_RING_F_EVENT_IDX when the backend offers it
     * @param indirect negotiate VIRTIO_RING_F_INDIRECT_DESC when offered (a chain then takes one descriptor)
     * @param polling queues poll their used ring with interrupts off instead of waiting on the call eventfd
     * @param regions memory regions (memfds) guest RAM is split into, 1 to 8; queue i lives in region i mod regions
     * @param replyTimeoutMs how long the backend may take to answer one request
     * @param completionTimeoutMs how long a queue waits for a completion while requests are in flight
     */
    public record Options(int queues, int queueSize, int slots, int maxBytes, boolean eventIdx, boolean indirect,
                          boolean polling, int regions, long replyTimeoutMs, long completionTimeoutMs) {
        public Options {
            require(queues >= 0 && queues <= 256, "queues", queues + " (0 for all the backend has, up to 256)");
            require(queueSize == 0 || (Integer.bitCount(queueSize) == 1 && queueSize <= Vring.MAX_QUEUE_SIZE),
                    "queueSize", queueSize + " (0 or a power of two up to " + Vring.MAX_QUEUE_SIZE + ")");
            require(slots >= 1 && slots <= Vring.MAX_QUEUE_SIZE, "slots", slots + " (1 to " + Vring.MAX_QUEUE_SIZE + ")");
            require(maxBytes >= 0 && maxBytes <= (64 << 20), "maxBytes", maxBytes + " (0 to 64 MiB)");
            require(regions >= 1 && regions <= VhostUser.MAX_REGIONS, "regions", regions + " (1 to " + VhostUser.MAX_REGIONS + ")");
            require(replyTimeoutMs >= 1, "replyTimeoutMs", replyTimeoutMs + " (at least 1)");
            require(completionTimeoutMs >= 1 && completionTimeoutMs <= Integer.MAX_VALUE, "completionTimeoutMs",
                    completionTimeoutMs + " (1 to " + Integer.MAX_VALUE + ")");
        }

        private static void require(boolean ok, String what, String got) {
            if (!ok) {
                throw new IllegalArgumentException("vhost-user front-end option " + what + ": invalid value " + got);
            }
        }

        /** All queues, 32 slots of 4 KiB, EVENT_IDX and INDIRECT_DESC on, interrupts, one region, 5 s / 30 s timeouts. */
        public static Builder builder() {
            return new Builder();
        }

        /** A builder for Options; {@link #build()} validates the whole. */
        public static final class Builder {
            private int queues;
            private int queueSize;
            private int slots = 32;
            private int maxBytes = 4096;
            private boolean eventIdx = true;
            private boolean indirect = true;
            private boolean polling;
            private int regions = 1;
            private long replyTimeoutMs = 5_000;
            private long completionTimeoutMs = 30_000;

            private Builder() {}

            public Builder queues(int v) {
                queues = v;
                return this;
            }

            public Builder queueSize(int v) {
                queueSize = v;
                return this;
            }

            public Builder slots(int v) {
                slots = v;
                return this;
            }

            public Builder maxBytes(int v) {
                maxBytes = v;
                return this;
            }

            public Builder eventIdx(boolean v) {
                eventIdx = v;
                return this;
            }

            public Builder indirect(boolean v) {
                indirect = v;
                return this;
            }

            public Builder polling(boolean v) {
                polling = v;
                return this;
            }

            public Builder regions(int v) {
                regions = v;
                return this;
            }

            public Builder replyTimeoutMs(long v) {
                replyTimeoutMs = v;
                return this;
            }

            public Builder completionTimeoutMs(long v) {
                completionTimeoutMs = v;
                return this;
            }

            public Options build() {
                return new Options(queues, queueSize, slots, maxBytes, eventIdx, indirect, polling, regions,
                        replyTimeoutMs, completionTimeoutMs);
            }
        }
    }

    /**
     * The backend's virtio-blk configuration space as GET_CONFIG returned it; a field whose
     * feature was not offered reads as the default the spec implies (size_max, seg_max 0: no
     * limit; blk_size 512; num_queues 1).
     */
    public record BlkConfig(long capacitySectors, int sizeMax, int segMax, int blkSize, int numQueues) {
        public long capacityBytes() {
            return capacitySectors << VirtioBlkSpec.SECTOR_SHIFT;
        }
    }

    /** One memfd of guest RAM: mapped here, mapped at {@code gpa} in the address space, sent to the backend. */
    private record Region(MemFd memfd, Mapping mapping, GuestMemory memory, long gpa) {}

    private final Options options;
    private final VhostUserChannel channel;
    /** The control thread's message, reused for every request and reply. */
    private final VhostUserMessage msg = new VhostUserMessage();
    private final AddressSpace as = new AddressSpace("vhost-user-frontend");
    private final List<Region> regions = new ArrayList<>();
    private final List<FrontendQueue> queues = new ArrayList<>();
    private final List<EventFd> eventFds = new ArrayList<>();

    // Written by the control thread during connect; final in effect afterwards (read by any thread
    // after connect returned, which happens-before their start).
    private long backendFeatures;
    private long features;
    private long backendProtocolFeatures;
    private long protocolFeatures;
    private int backendQueueNum;
    private BlkConfig config;
    private int[] vringBaseAtClose;
    /** Set by the control thread when a request failed: close then skips the goodbye. Control thread only. */
    private boolean broken;
    /** Set by close. Control thread only. */
    private boolean closed;

    private VhostUserFrontend(Options options, UnixSocket socket) {
        this.options = options;
        this.channel = new VhostUserChannel(socket);
    }

    /**
     * Connects to the backend listening on {@code socketPath} and sets up every queue (see the
     * class comment). Context: the control thread.
     *
     * @throws VhostUserException if the backend breaks the protocol, refuses a request or answers
     *     too late; nothing stays open then
     * @throws NativeException if the socket cannot be reached
     */
    public static VhostUserFrontend connect(Path socketPath, Options options) {
        Objects.requireNonNull(options, "options");
        return connect(UnixSocket.connect(socketPath), options);
    }

    /** {@link #connect(Path, Options)} over a socket already connected to a backend (which it takes over). */
    public static VhostUserFrontend connect(UnixSocket socket, Options options) {
        VhostUserFrontend f = new VhostUserFrontend(options, socket);
        try {
            socket.setReceiveTimeout(options.replyTimeoutMs());
            socket.setSendTimeout(options.replyTimeoutMs());
            f.handshake();
            return f;
        } catch (RuntimeException | Error e) {
            f.broken = true;
            try {
                f.close();
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    // ---------------------------------------------------------------------------------------
    // Handshake

    private void handshake() {
        backendFeatures = getU64(VhostUser.GET_FEATURES);
        if (!VhostUser.has(backendFeatures, Vring.F_VERSION_1)) {
            throw new VhostUserException("the backend does not offer VIRTIO_F_VERSION_1 (features 0x"
                    + Long.toHexString(backendFeatures) + "); this front-end drives only virtio 1.x devices");
        }
        if (VhostUser.has(backendFeatures, VhostUser.F_PROTOCOL_FEATURES)) {
            backendProtocolFeatures = getU64(VhostUser.GET_PROTOCOL_FEATURES);
            protocolFeatures = backendProtocolFeatures & WANTED_PROTOCOL;
            // REPLY_ACK is not in force before this request is processed: no NEED_REPLY on it.
            msg.request(VhostUser.SET_PROTOCOL_FEATURES, false).u64Payload(protocolFeatures);
            send();
        }
        backendQueueNum = hasProtocol(VhostUser.PF_MQ) ? (int) Math.min(getU64(VhostUser.GET_QUEUE_NUM), 1 << 16) : 1;
        msg.request(VhostUser.SET_OWNER, replyAck());
        sendAndAck();
        config = readConfig();
        int available = Math.min(backendQueueNum, VhostUser.has(backendFeatures, VirtioBlkSpec.F_MQ) ? config.numQueues() : 1);
        int n = options.queues() == 0 ? available : options.queues();
        if (n < 1 || n > available) {
            throw new VhostUserException("asked for " + options.queues() + " queues; the backend has " + available
                    + " (GET_QUEUE_NUM " + backendQueueNum + ", num_queues " + config.numQueues() + ")");
        }
        features = negotiatedFeatures();
        msg.request(VhostUser.SET_FEATURES, replyAck()).u64Payload(features);
        sendAndAck();

        int segSize = segmentSize();
        int segments = options.maxBytes() == 0 ? 0 : (options.maxBytes() + segSize - 1) / segSize;
        if (VhostUser.has(features, VirtioBlkSpec.F_SEG_MAX) && config.segMax() > 0 && segments > config.segMax()) {
            throw new VhostUserException("requests of " + options.maxBytes() + " bytes take " + segments
                    + " segments of the backend's size_max " + config.sizeMax() + "; its seg_max is " + config.segMax());
        }
        int maxChain = 2 + segments;
        boolean indirect = VhostUser.has(features, Vring.F_INDIRECT_DESC);
        int perChain = indirect ? 1 : maxChain;
        int queueSize = options.queueSize() != 0 ? options.queueSize()
                : Math.max(256, Integer.highestOneBit(Math.max(1, options.slots() * perChain - 1)) << 1);
        if (queueSize > Vring.MAX_QUEUE_SIZE || (long) options.slots() * perChain > queueSize) {
            throw new IllegalArgumentException("vhost-user front-end: " + options.slots() + " slots of " + perChain
                    + " descriptors each do not fit a queue of " + queueSize);
        }
        boolean eventIdx = VhostUser.has(features, Vring.F_EVENT_IDX);

        mapRegions(n, queueSize, maxChain, indirect);
        for (int i = 0; i < n; i++) {
            Region r = regions.get(i % regions.size());
            EventFd kick = newEventFd();
            EventFd call = newEventFd();
            queues.add(new FrontendQueue(i, r.memory(), queueSize, eventIdx, indirect, maxChain, segSize,
                    options.slots(), options.maxBytes(), kick, call, options.polling(), options.completionTimeoutMs()));
        }
        sendMemTable();
        for (FrontendQueue q : queues) {
            setupVring(q, regions.get(q.index() % regions.size()));
        }
        vringBaseAtClose = new int[n];
    }

    private long negotiatedFeatures() {
        long want = UNDERSTOOD;
        if (options.eventIdx()) {
            want |= VhostUser.bit(Vring.F_EVENT_IDX);
        }
        if (options.indirect()) {
            want |= VhostUser.bit(Vring.F_INDIRECT_DESC);
        }
        return backendFeatures & want;
    }

    /** The most bytes one data descriptor carries: size_max where the backend states one. */
    private int segmentSize() {
        if (VhostUser.has(features, VirtioBlkSpec.F_SIZE_MAX) && config.sizeMax() > 0) {
            return Math.min(config.sizeMax(), Math.max(options.maxBytes(), 1));
        }
        return Math.max(options.maxBytes(), 1);
    }

    private BlkConfig readConfig() {
        if (!hasProtocol(VhostUser.PF_CONFIG)) {
            throw new VhostUserException("the backend does not offer VHOST_USER_PROTOCOL_F_CONFIG (protocol features 0x"
                    + Long.toHexString(backendProtocolFeatures) + "): its capacity cannot be read");
        }
        int len = VirtioBlkSpec.CONFIG_SIZE;
        msg.request(VhostUser.GET_CONFIG, false).size(0)
                .putU32(VhostUser.CONFIG_OFFSET, 0).putU32(VhostUser.CONFIG_SIZE, len).putU32(VhostUser.CONFIG_FLAGS, 0);
        msg.putBytes(VhostUser.CONFIG_DATA, new byte[len], 0, len);
        send();
        receiveReply(VhostUser.GET_CONFIG);
        if (msg.size() == 0) {
            throw new VhostUserException("the backend refused GET_CONFIG of " + len + " bytes (an empty reply)");
        }
        msg.requireExactSize(VhostUser.CONFIG_DATA + len);
        if (msg.u32(VhostUser.CONFIG_OFFSET) != 0 || msg.u32(VhostUser.CONFIG_SIZE) != len) {
            throw new VhostUserException("GET_CONFIG reply covers offset " + msg.u32(VhostUser.CONFIG_OFFSET) + " size "
                    + msg.u32(VhostUser.CONFIG_SIZE) + ", not the 0 and " + len + " asked for");
        }
        int d = VhostUser.CONFIG_DATA;
        long capacity = msg.u64(d + VirtioBlkSpec.CONFIG_CAPACITY);
        int sizeMax = VhostUser.has(backendFeatures, VirtioBlkSpec.F_SIZE_MAX) ? msg.u32(d + VirtioBlkSpec.CONFIG_SIZE_MAX) : 0;
        int segMax = VhostUser.has(backendFeatures, VirtioBlkSpec.F_SEG_MAX) ? msg.u32(d + VirtioBlkSpec.CONFIG_SEG_MAX) : 0;
        int blkSize = VhostUser.has(backendFeatures, VirtioBlkSpec.F_BLK_SIZE) ? msg.u32(d + VirtioBlkSpec.CONFIG_BLK_SIZE)
                : VirtioBlkSpec.SECTOR_SIZE;
        int numQueues = VhostUser.has(backendFeatures, VirtioBlkSpec.F_MQ) ? msg.u16(d + VirtioBlkSpec.CONFIG_NUM_QUEUES) : 1;
        if (blkSize < VirtioBlkSpec.SECTOR_SIZE || Integer.bitCount(blkSize) != 1) {
            throw new VhostUserException("the backend's blk_size is " + Integer.toUnsignedString(blkSize)
                    + "; a power of two of at least 512 is needed");
        }
        if (numQueues < 1) {
            throw new VhostUserException("the backend offers VIRTIO_BLK_F_MQ with num_queues 0");
        }
        return new BlkConfig(capacity, sizeMax, segMax, blkSize, numQueues);
    }

    /** Creates the memfds, maps each here and in the address space, and carves queues out of them. */
    private void mapRegions(int nQueues, int queueSize, int maxChain, boolean indirect) {
        int nRegions = Math.min(options.regions(), nQueues);
        long page = Mapping.pageSize();
        long perQueue = FrontendQueue.bytesNeeded(queueSize, maxChain, indirect, options.slots(), options.maxBytes());
        for (int k = 0; k < nRegions; k++) {
            int held = (nQueues - k + nRegions - 1) / nRegions;
            long size = ((held * perQueue + (64 << 10)) + page - 1) & -page;
            MemFd fd = MemFd.create("mqb-guest-ram-" + k, MemFd.MFD_CLOEXEC | MemFd.MFD_ALLOW_SEALING);
            Mapping m;
            try {
                fd.truncate(size);
                // As QEMU's memfd backend (seal=on): the backend may rely on the size never changing.
                MemFd.addSeals(fd.fd(), MemFd.F_SEAL_SHRINK | MemFd.F_SEAL_GROW | MemFd.F_SEAL_SEAL);
                m = fd.map(0, size);
            } catch (RuntimeException e) {
                fd.close();
                throw e;
            }
            long gpa = (k + 1) * GPA_STRIDE;
            RamRegion ram = RamRegion.shared("vhost-user-ram-" + k, m.address(), size,
                    (off, len) -> m.segment().asSlice(off, len).asByteBuffer(), m::close);
            as.map(gpa, ram);
            regions.add(new Region(fd, m, new GuestMemory(as, ram, gpa), gpa));
        }
    }

    private EventFd newEventFd() {
        EventFd e = EventFd.create(EventFd.EFD_NONBLOCK | EventFd.EFD_CLOEXEC);
        eventFds.add(e);
        return e;
    }

    private void sendMemTable() {
        int n = regions.size();
        msg.request(VhostUser.SET_MEM_TABLE, replyAck()).size(0)
                .putU32(VhostUser.MEM_NREGIONS, n).putU32(VhostUser.MEM_NREGIONS + 4, 0);
        int[] fds = new int[n];
        for (int k = 0; k < n; k++) {
            Region r = regions.get(k);
            int at = VhostUser.MEM_REGIONS + k * VhostUser.REGION_BYTES;
            msg.putU64(at + VhostUser.REGION_GPA, r.gpa())
                    .putU64(at + VhostUser.REGION_SIZE, r.mapping().length())
                    .putU64(at + VhostUser.REGION_UADDR, r.mapping().address())
                    .putU64(at + VhostUser.REGION_MMAP_OFFSET, 0);
            fds[k] = r.memfd().fd();
        }
        msg.withFds(fds);
        sendAndAck();
    }

    private void setupVring(FrontendQueue q, Region r) {
        int i = q.index();
        msg.request(VhostUser.SET_VRING_NUM, replyAck()).statePayload(i, q.size());
        sendAndAck();
        msg.request(VhostUser.SET_VRING_BASE, replyAck()).statePayload(i, 0);
        sendAndAck();
        msg.request(VhostUser.SET_VRING_ADDR, replyAck()).size(0)
                .putU32(VhostUser.ADDR_INDEX, i).putU32(VhostUser.ADDR_FLAGS, 0)
                .putU64(VhostUser.ADDR_DESC, userAddress(r, q.ring().descAddr()))
                .putU64(VhostUser.ADDR_USED, userAddress(r, q.ring().usedAddr()))
                .putU64(VhostUser.ADDR_AVAIL, userAddress(r, q.ring().availAddr()))
                .putU64(VhostUser.ADDR_LOG, 0);
        sendAndAck();
        msg.request(VhostUser.SET_VRING_KICK, replyAck()).u64Payload(i).withFds(q.kickFd().fd());
        sendAndAck();
        msg.request(VhostUser.SET_VRING_CALL, replyAck()).u64Payload(i).withFds(q.callFd().fd());
        sendAndAck();
        if (VhostUser.has(features, VhostUser.F_PROTOCOL_FEATURES)) {
            msg.request(VhostUser.SET_VRING_ENABLE, replyAck()).statePayload(i, 1);
            sendAndAck();
        }
    }

    /** This process's virtual address of guest address {@code gpa} in region {@code r} (what SET_VRING_ADDR carries). */
    private static long userAddress(Region r, long gpa) {
        return r.mapping().address() + (gpa - r.gpa());
    }

    // ---------------------------------------------------------------------------------------
    // Requests and replies

    private boolean hasProtocol(int bit) {
        return VhostUser.has(protocolFeatures, bit);
    }

    private boolean replyAck() {
        return hasProtocol(VhostUser.PF_REPLY_ACK);
    }

    private void send() {
        try {
            channel.send(msg);
        } catch (VhostUserException e) {
            broken = true;
            throw e;
        }
    }

    /** Sends a request without a reply of its own; awaits its REPLY_ACK if it asked for one. */
    private void sendAndAck() {
        int request = msg.request();
        boolean ack = msg.needsReply();
        send();
        if (ack) {
            receiveReply(request);
            msg.requireExactSize(VhostUser.U64_SIZE);
            long status = msg.u64(0);
            if (status != 0) {
                broken = true;
                throw new VhostUserException("the backend refused " + VhostUser.name(request) + " (REPLY_ACK status "
                        + status + ")");
            }
        }
    }

    private long getU64(int request) {
        msg.request(request, false);
        send();
        receiveReply(request);
        msg.requireExactSize(VhostUser.U64_SIZE);
        return msg.u64(0);
    }

    /** Receives the reply to {@code request} into msg: a REPLY to that request, or an exception. */
    private void receiveReply(int request) {
        try {
            if (!channel.receive(msg)) {
                throw new VhostUserException("the backend closed the connection instead of answering "
                        + VhostUser.name(request));
            }
            if (msg.request() != request || !msg.isReply()) {
                throw new VhostUserException("the backend answered " + VhostUser.name(request) + " with "
                        + (msg.isReply() ? "a reply to " : "a request ") + msg.name() + " (flags 0x"
                        + Integer.toHexString(msg.flags()) + ")");
            }
            if (msg.fdCount() > 0) {
                throw new VhostUserException("the backend's reply to " + VhostUser.name(request) + " carried "
                        + msg.fdCount() + " fds; it has none");
            }
        } catch (VhostUserException e) {
            broken = true;
            throw new VhostUserException("awaiting the reply to " + VhostUser.name(request) + ": " + e.getMessage(), e);
        }
    }

    // ---------------------------------------------------------------------------------------
    // What was negotiated (Context: any thread, after connect returned)

    public Options options() {
        return options;
    }

    /** The features GET_FEATURES offered. */
    public long backendFeatures() {
        return backendFeatures;
    }

    /** The features SET_FEATURES accepted. */
    public long features() {
        return features;
    }

    public long backendProtocolFeatures() {
        return backendProtocolFeatures;
    }

    public long protocolFeatures() {
        return protocolFeatures;
    }

    /** The backend's process id (SO_PEERCRED of the socket), 0 if the kernel could not say. */
    public long backendPid() {
        try {
            return channel.socket().peerPid();
        } catch (NativeException e) {
            return 0;
        }
    }

    /** GET_QUEUE_NUM's answer (1 without the MQ protocol feature). */
    public int backendQueueNum() {
        return backendQueueNum;
    }

    public BlkConfig config() {
        return config;
    }

    /** Whether the backend is read-only (VIRTIO_BLK_F_RO). */
    public boolean readOnly() {
        return VhostUser.has(features, BLK_F_RO);
    }

    public int queueCount() {
        return queues.size();
    }

    public FrontendQueue queue(int i) {
        return queues.get(i);
    }

    /**
     * GET_VRING_BASE's answer for queue {@code i} at {@link #close()}: the backend's next available
     * index, which equals the requests the queue made available (mod 2^16) if the backend took each
     * exactly once. -1 before close or if close could not ask.
     */
    public int vringBaseAtClose(int i) {
        return vringBaseAtClose == null ? -1 : vringBaseAtClose[i];
    }

    // ---------------------------------------------------------------------------------------
    // Close

    /**
     * Stops every queue (SET_VRING_ENABLE 0, GET_VRING_BASE) unless a request failed before, closes
     * the socket, the eventfds and the memfds, and unmaps guest RAM. Idempotent. Context: the control
     * thread, after every submitter thread stopped using its queue.
     *
     * @throws VhostUserException if the goodbye failed (everything is released all the same)
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        RuntimeException failure = null;
        if (!broken && vringBaseAtClose != null) {
            java.util.Arrays.fill(vringBaseAtClose, -1);
            try {
                for (FrontendQueue q : queues) {
                    if (VhostUser.has(features, VhostUser.F_PROTOCOL_FEATURES)) {
                        msg.request(VhostUser.SET_VRING_ENABLE, replyAck()).statePayload(q.index(), 0);
                        sendAndAck();
                    }
                    msg.request(VhostUser.GET_VRING_BASE, false).statePayload(q.index(), 0);
                    send();
                    receiveReply(VhostUser.GET_VRING_BASE);
                    msg.requireExactSize(VhostUser.STATE_SIZE);
                    if (msg.u32(VhostUser.STATE_INDEX) != q.index()) {
                        throw new VhostUserException("GET_VRING_BASE for queue " + q.index() + " answered for queue "
                                + msg.u32(VhostUser.STATE_INDEX));
                    }
                    vringBaseAtClose[q.index()] = msg.u32(VhostUser.STATE_NUM);
                }
            } catch (RuntimeException e) {
                failure = e;
            }
        }
        try {
            channel.close();
        } catch (RuntimeException e) {
            failure = first(failure, e);
        }
        msg.close();
        for (EventFd e : eventFds) {
            try {
                e.close();
            } catch (RuntimeException x) {
                failure = first(failure, x);
            }
        }
        for (Region r : regions) {
            try {
                r.memory().close(); // unmaps from the address space; the region then unmaps our mapping
            } catch (RuntimeException x) {
                failure = first(failure, x);
            }
            try {
                r.memfd().close();
            } catch (RuntimeException x) {
                failure = first(failure, x);
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    private static RuntimeException first(RuntimeException have, RuntimeException next) {
        if (have == null) {
            return next;
        }
        have.addSuppressed(next);
        return have;
    }

    @Override
    public String toString() {
        return "VhostUserFrontend[" + channel.socket() + ", " + queues.size() + " queues, features 0x"
                + Long.toHexString(features) + ", protocol 0x" + Long.toHexString(protocolFeatures) + "]";
    }
}
