package org.mqblock.vhost;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;
import org.mqblock.nativeio.EventFd;
import org.mqblock.nativeio.NativeException;
import org.mqblock.virtio.VirtioBlk;
import org.mqblock.virtio.Vring;

/**
 * The vhost-user view of each virtqueue of the device: what {@code SET_VRING_*} said about it,
 * and whether the device serves it now. A ring runs in the device ({@link VirtioBlk#startQueue})
 * once it has a size, addresses, a kick fd and is enabled (by its kick when
 * VHOST_USER_F_PROTOCOL_FEATURES was not negotiated, else by {@code SET_VRING_ENABLE 1}); it stops
 * ({@link VirtioBlk#stopQueue}: its requests in flight complete first) at {@code SET_VRING_ENABLE
 * 0} and {@code GET_VRING_BASE}, and for a new kick fd or memory table, after which it starts again
 * where it stopped.
 *
 * <p>Addresses arrive as the front-end's virtual addresses; they are kept, and translated to
 * guest-physical ones through the memory table whenever a ring starts, so a new table moves the
 * rings with it. Each handler validates before it changes anything.
 *
 * <p>Fds: a ring owns its kick, call and err eventfds; a replaced one is closed once the device
 * no longer uses it ({@link VirtioBlk#setCall} returns only then). The kick fd is dropped by
 * {@code GET_VRING_BASE} (the ring needs a new one to start again); call and err fds are kept
 * until replaced or the session ends, because QEMU does not send them again when it restarts the
 * device.
 *
 * <p>Context: the connection thread only. Not threadsafe.
 */
final class VhostUserVrings {

    /** One ring. The connection thread only. */
    private static final class Ring {
        final int index;
        int num;
        boolean addrSet;
        long descQva;
        long availQva;
        long usedQva;
        /** The last available index to start from: SET_VRING_BASE's, or where the ring stopped. */
        int base;
        EventFd kick;
        EventFd call;
        EventFd err;
        /** A kick fd arrived since the last reset or GET_VRING_BASE (vhost-user's "started"). */
        boolean started;
        boolean enabled;
        /** Served by the device now. */
        boolean running;

        Ring(int index) {
            this.index = index;
        }
    }

    private final VirtioBlk device;
    private final Consumer<String> log;
    private final Ring[] rings;

    /** @param log where a ring that fails to stop is reported (the connection adds its prefix) */
    VhostUserVrings(VirtioBlk device, Consumer<String> log) {
        this.device = device;
        this.log = log;
        this.rings = new Ring[device.numQueues()];
        for (int i = 0; i < rings.length; i++) {
            rings[i] = new Ring(i);
        }
    }

    boolean anyRunning() {
        for (Ring r : rings) {
            if (r.running) {
                return true;
            }
        }
        return false;
    }

    // ---------------------------------------------------------------------------------------
    // Requests

    void setNum(VhostUserMessage m) {
        Ring r = stateRing(m);
        int num = m.u32(VhostUser.STATE_NUM);
        int max = device.config().maxQueueSize();
        if (num < 1 || num > max || Integer.bitCount(num) != 1) {
            throw new VhostUserException("SET_VRING_NUM: vq " + r.index + ": size " + Integer.toUnsignedString(num)
                    + " is not a power of two from 1 to " + max);
        }
        requireStopped(r, m);
        r.num = num;
    }

    void setAddr(VhostUserMessage m, VhostUserMemoryTable memory) {
        m.requireExactSize(VhostUser.ADDR_SIZE);
        Ring r = ring(m.u32(VhostUser.ADDR_INDEX), m);
        int flags = m.u32(VhostUser.ADDR_FLAGS);
        if (flags != 0) {
            throw new VhostUserException("SET_VRING_ADDR: vq " + r.index + ": flags 0x" + Integer.toHexString(flags)
                    + "; none are accepted (logging, VHOST_F_LOG_ALL, was not offered)");
        }
        if (memory == null) {
            throw new VhostUserException("SET_VRING_ADDR: vq " + r.index + " before SET_MEM_TABLE: its addresses"
                    + " cannot be translated");
        }
        requireStopped(r, m);
        long desc = m.u64(VhostUser.ADDR_DESC);
        long used = m.u64(VhostUser.ADDR_USED);
        long avail = m.u64(VhostUser.ADDR_AVAIL);
        if ((desc & 15) != 0 || (avail & 1) != 0 || (used & 3) != 0) {
            throw new VhostUserException("SET_VRING_ADDR: vq " + r.index + ": misaligned rings (desc 0x"
                    + Long.toHexString(desc) + " needs 16, avail 0x" + Long.toHexString(avail) + " 2, used 0x"
                    + Long.toHexString(used) + " 4)");
        }
        translate(memory, r.index, r.num, desc, avail, used); // all three inside the table, or nothing changes
        r.descQva = desc;
        r.availQva = avail;
        r.usedQva = used;
        r.addrSet = true;
    }

    void setBase(VhostUserMessage m) {
        Ring r = stateRing(m);
        int base = m.u32(VhostUser.STATE_NUM);
        if (Integer.compareUnsigned(base, 0xffff) > 0) {
            throw new VhostUserException("SET_VRING_BASE: vq " + r.index + ": " + Integer.toUnsignedString(base)
                    + " is not a 16-bit split-ring index (packed rings were not offered)");
        }
        requireStopped(r, m);
        r.base = base;
    }

    /** GET_VRING_BASE: stops the ring after its requests complete; returns {index, last_avail_idx}. */
    int[] getBase(VhostUserMessage m) {
        Ring r = stateRing(m);
        if (!r.started) {
            throw new VhostUserException("GET_VRING_BASE: vq " + r.index + " was never started (no SET_VRING_KICK"
                    + " since the last reset or GET_VRING_BASE)");
        }
        stop(r);
        r.started = false;
        closeQuietly(r.kick);
        r.kick = null;
        return new int[] {r.index, r.base};
    }

    void setKick(VhostUserMessage m, VhostUserMemoryTable memory, boolean protocolBitAcked) {
        Ring r = fileRing(m);
        if (m.fdCount() == 0) {
            throw new VhostUserException("SET_VRING_KICK: vq " + r.index + " without a fd: polling rings without"
                    + " kicks is not supported");
        }
        EventFd kick = adopt(m, r);
        if (r.running) {
            stop(r); // the device watches the old fd; start again on the new one where it stopped
        }
        closeQuietly(r.kick);
        r.kick = kick;
        r.started = true;
        if (!protocolBitAcked) {
            r.enabled = true; // without VHOST_USER_F_PROTOCOL_FEATURES a ring is enabled by its kick
        }
        maybeStart(r, memory);
    }

    void setCall(VhostUserMessage m) {
        Ring r = fileRing(m);
        EventFd call = m.fdCount() == 0 ? null : adopt(m, r);
        device.setCall(r.index, call); // returns once no raise uses the old one
        closeQuietly(r.call);
        r.call = call;
    }

    void setErr(VhostUserMessage m) {
        Ring r = fileRing(m);
        EventFd err = m.fdCount() == 0 ? null : adopt(m, r);
        device.setErrorSignal(r.index, err);
        closeQuietly(r.err);
        r.err = err;
    }

    void setEnable(VhostUserMessage m, VhostUserMemoryTable memory) {
        Ring r = stateRing(m);
        int enable = m.u32(VhostUser.STATE_NUM);
        if (enable != 0 && enable != 1) {
            throw new VhostUserException("SET_VRING_ENABLE: vq " + r.index + ": " + Integer.toUnsignedString(enable)
                    + " is neither 0 nor 1");
        }
        r.enabled = enable == 1;
        if (r.enabled) {
            maybeStart(r, memory);
        } else {
            stop(r);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Memory table changes

    /** Fails unless every ring given addresses lies inside {@code next}. */
    void checkAddresses(VhostUserMemoryTable next) {
        for (Ring r : rings) {
            if (r.addrSet) {
                translate(next, r.index, r.num, r.descQva, r.availQva, r.usedQva);
            }
        }
    }

    /** Stops every running ring (their requests complete); returns which were running. */
    boolean[] pauseAll() {
        boolean[] paused = new boolean[rings.length];
        for (Ring r : rings) {
            paused[r.index] = r.running;
            stop(r);
        }
        return paused;
    }

    /** Starts the rings {@link #pauseAll} stopped, through the new table. */
    void resume(boolean[] paused, VhostUserMemoryTable memory) {
        for (Ring r : rings) {
            if (paused[r.index]) {
                maybeStart(r, memory);
            }
        }
    }

    /**
     * Stops every ring and forgets everything about it, closing its fds: a reset, or the end of
     * the session. Goes on past a ring that fails to stop, and rethrows the first failure at the end.
     */
    void stopAndForgetAll() {
        RuntimeException first = null;
        for (int i = 0; i < rings.length; i++) {
            Ring r = rings[i];
            try {
                stop(r);
                device.setCall(i, null);
                device.setErrorSignal(i, null);
            } catch (RuntimeException e) {
                log.accept("stopping vq " + i + ": " + e);
                if (first == null) {
                    first = e;
                }
            }
            closeQuietly(r.kick);
            closeQuietly(r.call);
            closeQuietly(r.err);
            rings[i] = new Ring(i);
        }
        if (first != null) {
            throw first;
        }
    }

    // ---------------------------------------------------------------------------------------
    // Starting and stopping

    private void maybeStart(Ring r, VhostUserMemoryTable memory) {
        if (r.running || !r.started || !r.enabled || r.num == 0 || !r.addrSet || memory == null) {
            return;
        }
        if (!Vring.has(device.features(), Vring.F_VERSION_1)) {
            throw new VhostUserException("vq " + r.index + " cannot start: SET_FEATURES has not accepted"
                    + " VIRTIO_F_VERSION_1 (legacy virtio is not served)");
        }
        long[] gpa = translate(memory, r.index, r.num, r.descQva, r.availQva, r.usedQva);
        try {
            device.startQueue(r.index, r.num, gpa[0], gpa[1], gpa[2], r.base, r.kick);
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw new VhostUserException("vq " + r.index + " cannot start: " + e.getMessage(), e);
        }
        r.running = true;
    }

    /** Stops the ring in the device if it runs, keeping where it stopped as its base. */
    private void stop(Ring r) {
        if (r.running) {
            r.running = false;
            r.base = device.stopQueue(r.index);
        }
    }

    /** The rings' guest-physical addresses {desc, avail, used}, each wholly inside one region of {@code memory}. */
    private static long[] translate(VhostUserMemoryTable memory, int index, int num, long desc, long avail, long used) {
        int n = Math.max(num, 1); // the size may come after the addresses; checked in full at start
        String vq = "vq " + index;
        return new long[] {
            memory.toGpa(desc, Vring.descTableBytes(n), vq + " descriptor table"),
            memory.toGpa(avail, Vring.availBytes(n) + 2, vq + " available ring"), // + used_event
            memory.toGpa(used, Vring.usedBytes(n) + 2, vq + " used ring") // + avail_event
        };
    }

    // ---------------------------------------------------------------------------------------
    // Payloads

    private Ring ring(int index, VhostUserMessage m) {
        if (index < 0 || index >= rings.length) {
            throw new VhostUserException(m.name() + ": vq " + Integer.toUnsignedString(index) + " does not exist:"
                    + " num-queues is " + rings.length);
        }
        return rings[index];
    }

    private Ring stateRing(VhostUserMessage m) {
        m.requireExactSize(VhostUser.STATE_SIZE);
        return ring(m.u32(VhostUser.STATE_INDEX), m);
    }

    /** The ring of a KICK/CALL/ERR u64, whose fd count must agree with its NOFD bit. */
    private Ring fileRing(VhostUserMessage m) {
        m.requireExactSize(VhostUser.U64_SIZE);
        long v = m.u64(0);
        if ((v & ~(VhostUser.VRING_IDX_MASK | VhostUser.VRING_NOFD_MASK)) != 0) {
            throw new VhostUserException(m.name() + ": payload 0x" + Long.toHexString(v)
                    + " has bits set beyond the index (0-7) and the no-fd flag (8)");
        }
        Ring r = ring((int) (v & VhostUser.VRING_IDX_MASK), m);
        boolean nofd = (v & VhostUser.VRING_NOFD_MASK) != 0;
        int want = nofd ? 0 : 1;
        if (m.fdCount() != want) {
            throw new VhostUserException(m.name() + ": vq " + r.index + (nofd ? " says no fd" : " needs one fd")
                    + " but carried " + m.fdCount());
        }
        return r;
    }

    /**
     * Takes the message's fd as a non-blocking eventfd. Refuses anything else: a regular file as
     * a kick fd would be always readable (an IOThread spinning for one front-end), and a blocking
     * call fd whose counter the front-end filled would make the IOThread's write wait forever.
     */
    private static EventFd adopt(VhostUserMessage m, Ring r) {
        int fd = m.fd(0);
        String kind;
        try {
            kind = Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString();
        } catch (IOException e) {
            throw new VhostUserException(m.name() + ": vq " + r.index + ": cannot inspect its fd: " + e.getMessage(), e);
        }
        if (!kind.equals("anon_inode:[eventfd]")) {
            throw new VhostUserException(m.name() + ": vq " + r.index + ": its fd is " + kind + ", not an eventfd");
        }
        EventFd e;
        try {
            e = EventFd.adoptNonBlocking(fd);
        } catch (NativeException err) {
            throw new VhostUserException(m.name() + ": vq " + r.index + ": " + err.getMessage(), err);
        }
        m.takeFd(0);
        return e;
    }

    private static void requireStopped(Ring r, VhostUserMessage m) {
        if (r.running) {
            throw new VhostUserException(m.name() + ": vq " + r.index + " is running; stop it first"
                    + " (SET_VRING_ENABLE 0 or GET_VRING_BASE)");
        }
    }

    private static void closeQuietly(EventFd e) {
        if (e != null) {
            e.close();
        }
    }
}
