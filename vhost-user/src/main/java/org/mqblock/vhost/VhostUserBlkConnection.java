package org.mqblock.vhost;

import java.util.function.Consumer;
import org.mqblock.memory.AddressSpace;
import org.mqblock.nativeio.NativeException;
import org.mqblock.nativeio.UnixSocket;
import org.mqblock.virtio.VirtioBlk;
import org.mqblock.virtio.VirtioBlkSpec;

/**
 * One front-end's session with the vhost-user-blk export: reads its requests, answers them, and
 * drives the export's {@link VirtioBlk} device (libvhost-user's {@code vu_dispatch} with the
 * block server's callbacks, block/export/vhost-user-blk-server.c).
 *
 * <h2>Why a thread of its own</h2>
 * The socket is read by a thread per connection, blocking in {@link VhostUserChannel#receive},
 * not by the main loop nor by an IOThread. Several requests block by their nature: {@code
 * GET_VRING_BASE} and {@code SET_VRING_ENABLE 0} wait for the ring's requests in flight to
 * complete, a {@code SET_MEM_TABLE} while rings run drains them before swapping the memory, and
 * the front-end waits for each reply. On this thread that waiting stalls only this front-end;
 * the IOThreads go on serving every virtqueue (and anything else they serve), and the export's
 * acceptor goes on. A front-end that stalls halfway through a message stalls only this thread,
 * and {@link #close()} (a socket shutdown) ends it. The thread is the device's configuration
 * thread while it lives (what VirtioBlk calls the main loop): one connection at a time, so no
 * other thread configures the device meanwhile.
 *
 * <h2>Errors</h2>
 * Every handler validates before it changes anything. A request it refuses (a wrong size, an
 * index past num-queues, an address outside the memory table, a request that is unknown or not
 * offered) gets a failure reply when the front-end asked for one ({@code NEED_REPLY} with
 * REPLY_ACK negotiated) and the session goes on; otherwise the connection is closed with the
 * reason logged, as a request that has its own reply ({@code GET_*}) has no way to say no
 * ({@code GET_CONFIG} excepted: an empty reply, as libvhost-user sends). A malformed message
 * (truncated, oversized, too many fds) closes the connection. Either way the export stays up:
 * the session cleans up (every ring stopped after its requests complete, the device reset,
 * guest RAM released once unused, every fd closed) and the next front-end can connect.
 *
 * <p>Context: {@link #run()} on the connection thread; {@link #close()} from any thread.
 */
final class VhostUserBlkConnection implements Runnable {

    /** Protocol features offered: MQ, REPLY_ACK, CONFIG, RESET_DEVICE (no INFLIGHT_SHMFD: no crash-safe reconnect). */
    static final long PROTOCOL_FEATURES = VhostUser.bit(VhostUser.PF_MQ) | VhostUser.bit(VhostUser.PF_REPLY_ACK)
            | VhostUser.bit(VhostUser.PF_CONFIG) | VhostUser.bit(VhostUser.PF_RESET_DEVICE);

    private final String name;
    /** Which front-end of the export this is (1, 2, ...), in every log line. */
    private final long session;
    private final VirtioBlk device;
    private final AddressSpace as;
    private final VhostUserChannel channel;
    private final Consumer<String> log;
    private final boolean trace;

    // The connection thread only (it runs the whole session).
    private final VhostUserMessage msg = new VhostUserMessage();
    private final VhostUserMessage reply = new VhostUserMessage();
    private final VhostUserVrings vrings;
    private long protocolFeatures;
    /** Whether SET_FEATURES accepted VHOST_USER_F_PROTOCOL_FEATURES (rings then start disabled). */
    private boolean protocolBitAcked;
    private VhostUserMemoryTable memory;
    /** Requests handled, for the closing log line. */
    private long requests;

    VhostUserBlkConnection(String name, long session, VirtioBlk device, AddressSpace as, VhostUserChannel channel,
                           Consumer<String> log, boolean trace) {
        this.name = name;
        this.session = session;
        this.device = device;
        this.as = as;
        this.channel = channel;
        this.log = log;
        this.trace = trace;
        this.vrings = new VhostUserVrings(device, this::log);
    }

    /** The virtio feature bits offered: the device's and VHOST_USER_F_PROTOCOL_FEATURES. */
    long offeredFeatures() {
        return device.offeredFeatures() | VhostUser.bit(VhostUser.F_PROTOCOL_FEATURES);
    }

    /** Serves the front-end until it hangs up, breaks the protocol or is closed; then cleans up. */
    @Override
    public void run() {
        String end = "the front-end hung up";
        try {
            while (channel.receive(msg)) {
                requests++;
                dispatch();
            }
        } catch (VhostUserException e) {
            end = "closing the connection: " + e.getMessage();
        } catch (RuntimeException | Error e) {
            end = "closing the connection after an internal error: " + e;
        } finally {
            try {
                cleanUp();
            } finally {
                msg.close();
                reply.close();
                channel.close();
            }
        }
        log(end + " (after " + requests + (requests == 1 ? " request" : " requests")
                + "); rings stopped, device reset, guest RAM released");
    }

    /**
     * Ends the session: shuts the socket down, so the receive fails and the connection thread
     * cleans up and closes the fd itself (closing it here could let its number be reused under a
     * send that thread is making). Context: any thread.
     */
    void close() {
        try {
            channel.socket().shutdown(UnixSocket.SHUT_RDWR);
        } catch (NativeException ignored) {
            // the peer is gone already: the receive has ended or will
        }
    }

    // ---------------------------------------------------------------------------------------
    // Dispatch and the error policy

    private void dispatch() {
        int req = msg.request();
        if (trace) {
            log("<- " + VhostUserTrace.describe(msg));
        }
        boolean ack = !VhostUser.hasReply(req) && msg.needsReply() && VhostUser.has(protocolFeatures, VhostUser.PF_REPLY_ACK);
        try {
            checkFds(req);
            handle(req);
        } catch (VhostUserException refused) {
            String why = refused.getMessage().startsWith(msg.name()) ? refused.getMessage()
                    : msg.name() + ": " + refused.getMessage();
            if (ack) {
                log("refused " + why);
                sendAck(1);
                return;
            }
            if (req == VhostUser.GET_CONFIG) {
                log("refused " + why + " (an empty reply)");
                send(reply.reply(req));
                return;
            }
            throw refused;
        }
        if (ack) {
            sendAck(0);
        }
    }

    /** Refuses fds on requests that take none (the message closes them). */
    private void checkFds(int req) {
        boolean takesFds = switch (req) {
            case VhostUser.SET_MEM_TABLE, VhostUser.SET_VRING_KICK, VhostUser.SET_VRING_CALL, VhostUser.SET_VRING_ERR -> true;
            default -> false;
        };
        if (!takesFds && msg.fdCount() > 0) {
            throw new VhostUserException(msg.name() + " carried " + msg.fdCount() + " fds; it takes none");
        }
    }

    private void handle(int req) {
        switch (req) {
            case VhostUser.GET_FEATURES -> {
                msg.requireExactSize(0);
                send(reply.reply(req).u64Payload(offeredFeatures()));
            }
            case VhostUser.SET_FEATURES -> setFeatures();
            case VhostUser.SET_OWNER -> {
                msg.requireExactSize(0); // one front-end per connection: nothing more to record
            }
            case VhostUser.RESET_OWNER, VhostUser.RESET_DEVICE -> {
                msg.requireExactSize(0);
                if (req == VhostUser.RESET_DEVICE && !VhostUser.has(protocolFeatures, VhostUser.PF_RESET_DEVICE)) {
                    throw notNegotiated("RESET_DEVICE");
                }
                resetDevice();
            }
            case VhostUser.GET_PROTOCOL_FEATURES -> {
                msg.requireExactSize(0);
                send(reply.reply(req).u64Payload(PROTOCOL_FEATURES));
            }
            case VhostUser.SET_PROTOCOL_FEATURES -> {
                msg.requireExactSize(VhostUser.U64_SIZE);
                long f = msg.u64(0);
                if ((f & ~PROTOCOL_FEATURES) != 0) {
                    throw new VhostUserException("SET_PROTOCOL_FEATURES: 0x" + Long.toHexString(f & ~PROTOCOL_FEATURES)
                            + " were not offered (offered 0x" + Long.toHexString(PROTOCOL_FEATURES) + ")");
                }
                protocolFeatures = f;
            }
            case VhostUser.GET_QUEUE_NUM -> {
                msg.requireExactSize(0);
                send(reply.reply(req).u64Payload(device.numQueues()));
            }
            case VhostUser.SET_MEM_TABLE -> setMemTable();
            case VhostUser.SET_VRING_NUM -> vrings.setNum(msg);
            case VhostUser.SET_VRING_ADDR -> vrings.setAddr(msg, memory);
            case VhostUser.SET_VRING_BASE -> vrings.setBase(msg);
            case VhostUser.GET_VRING_BASE -> {
                int[] state = vrings.getBase(msg);
                send(reply.reply(req).statePayload(state[0], state[1]));
            }
            case VhostUser.SET_VRING_KICK -> vrings.setKick(msg, memory, protocolBitAcked);
            case VhostUser.SET_VRING_CALL -> vrings.setCall(msg);
            case VhostUser.SET_VRING_ERR -> vrings.setErr(msg);
            case VhostUser.SET_VRING_ENABLE -> {
                if (!protocolBitAcked) {
                    throw new VhostUserException("SET_VRING_ENABLE without VHOST_USER_F_PROTOCOL_FEATURES accepted"
                            + " by SET_FEATURES (rings are then enabled by their kick)");
                }
                vrings.setEnable(msg, memory);
            }
            case VhostUser.GET_CONFIG -> getConfig();
            case VhostUser.SET_CONFIG -> setConfig();
            default -> throw new VhostUserException(msg.name() + " is not supported by this vhost-user-blk backend"
                    + " (request " + Integer.toUnsignedString(req) + "; its feature was not offered)");
        }
    }

    private VhostUserException notNegotiated(String what) {
        return new VhostUserException(what + ": its protocol feature was not negotiated (SET_PROTOCOL_FEATURES 0x"
                + Long.toHexString(protocolFeatures) + ")");
    }

    // ---------------------------------------------------------------------------------------
    // Features

    private void setFeatures() {
        msg.requireExactSize(VhostUser.U64_SIZE);
        long f = msg.u64(0);
        long offered = offeredFeatures();
        if ((f & ~offered) != 0) {
            throw new VhostUserException("SET_FEATURES: 0x" + Long.toHexString(f & ~offered)
                    + " were not offered (offered 0x" + Long.toHexString(offered) + ")");
        }
        long deviceFeatures = f & ~VhostUser.bit(VhostUser.F_PROTOCOL_FEATURES);
        if (vrings.anyRunning() && deviceFeatures != device.features()) {
            throw new VhostUserException("SET_FEATURES: changes the device features from 0x"
                    + Long.toHexString(device.features()) + " to 0x" + Long.toHexString(deviceFeatures)
                    + " while rings run");
        }
        if (!vrings.anyRunning()) {
            if (device.isBroken()) {
                // vhost-user has no device reset of its own: every ring stopped and features set
                // again is how QEMU starts the device afresh after the guest reset it.
                log("the device was marked broken (" + device.brokenReason() + "); SET_FEATURES with every ring"
                        + " stopped resets it");
                device.reset();
            }
            try {
                device.negotiate(deviceFeatures);
            } catch (IllegalArgumentException e) {
                throw new VhostUserException("SET_FEATURES 0x" + Long.toHexString(f) + ": " + e.getMessage(), e);
            }
        }
        protocolBitAcked = VhostUser.has(f, VhostUser.F_PROTOCOL_FEATURES);
    }

    // ---------------------------------------------------------------------------------------
    // Memory

    /**
     * Maps the new table, checks that every ring set up so far lies in it, then swaps: the rings
     * that run are stopped (their requests complete, so nothing uses the old memory through them),
     * the old regions leave the address space and the new ones enter it, and the rings start
     * again where they stopped, at addresses translated through the new table (libvhost-user
     * re-maps its rings the same way). The old regions release their mappings once unused.
     */
    private void setMemTable() {
        VhostUserMemoryTable next = VhostUserMemoryTable.map(msg, name, this::log);
        boolean[] paused;
        try {
            vrings.checkAddresses(next);
            paused = vrings.pauseAll();
            VhostUserMemoryTable old = memory;
            memory = null;
            if (old != null) {
                old.uninstall(as);
            }
            next.install(as); // cannot overlap: the old regions are gone and the table was checked
            memory = next;
        } finally {
            if (memory != next) {
                next.uninstall(as); // refused or failed: nothing of it stays mapped
            }
        }
        vrings.resume(paused, next);
        if (trace) {
            log("   memory table: " + next.regions());
        }
    }

    // ---------------------------------------------------------------------------------------
    // Config space

    private void getConfig() {
        if (!VhostUser.has(protocolFeatures, VhostUser.PF_CONFIG)) {
            throw notNegotiated("GET_CONFIG");
        }
        int[] range = configRange();
        byte[] bytes = device.readConfig(range[0], range[1]);
        reply.reply(VhostUser.GET_CONFIG).putU32(VhostUser.CONFIG_OFFSET, range[0])
                .putU32(VhostUser.CONFIG_SIZE, range[1]).putU32(VhostUser.CONFIG_FLAGS, msg.u32(VhostUser.CONFIG_FLAGS))
                .putBytes(VhostUser.CONFIG_DATA, bytes, 0, bytes.length);
        send(reply);
    }

    private void setConfig() {
        if (!VhostUser.has(protocolFeatures, VhostUser.PF_CONFIG)) {
            throw notNegotiated("SET_CONFIG");
        }
        int[] range = configRange();
        throw new VhostUserException("SET_CONFIG of " + range[1] + " bytes at offset " + range[0]
                + ": no field of the virtio-blk config space is writable here (the writeback toggle needs"
                + " VIRTIO_BLK_F_CONFIG_WCE, which is not offered)");
    }

    /** The {offset, size} of a GET/SET_CONFIG, checked against the payload and the config space. */
    private int[] configRange() {
        msg.requireSize(VhostUser.CONFIG_DATA);
        int offset = msg.u32(VhostUser.CONFIG_OFFSET);
        int size = msg.u32(VhostUser.CONFIG_SIZE);
        if (Integer.compareUnsigned(size, VhostUser.MAX_CONFIG_SIZE) > 0) {
            throw new VhostUserException(msg.name() + ": size " + Integer.toUnsignedString(size) + " exceeds "
                    + VhostUser.MAX_CONFIG_SIZE);
        }
        msg.requireExactSize(VhostUser.CONFIG_DATA + size);
        int len = VirtioBlkSpec.CONFIG_SIZE;
        if (Integer.compareUnsigned(offset, len) > 0 || size > len - offset) {
            throw new VhostUserException(msg.name() + ": " + size + " bytes at offset " + Integer.toUnsignedString(offset)
                    + " go past the " + len + "-byte virtio-blk config space");
        }
        return new int[] {offset, size};
    }

    // ---------------------------------------------------------------------------------------
    // Reset and disconnect

    /** RESET_OWNER, RESET_DEVICE: every ring stopped and forgotten, the device and its memory reset. */
    private void resetDevice() {
        vrings.stopAndForgetAll();
        device.reset();
        releaseMemory();
        protocolBitAcked = false;
    }

    private void releaseMemory() {
        if (memory != null) {
            memory.uninstall(as);
            memory = null;
        }
    }

    /** After the front-end is gone: as {@link #resetDevice}, logging what fails rather than stopping. */
    private void cleanUp() {
        try {
            vrings.stopAndForgetAll();
        } finally {
            try {
                device.reset();
            } finally {
                releaseMemory();
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Sending

    private void sendAck(long status) {
        send(reply.reply(msg.request()).u64Payload(status));
    }

    private void send(VhostUserMessage m) {
        if (trace) {
            log("-> " + VhostUserTrace.describe(m));
        }
        channel.send(m);
    }

    private void log(String line) {
        log.accept("vhost-user-blk " + name + " #" + session + ": " + line);
    }
}
