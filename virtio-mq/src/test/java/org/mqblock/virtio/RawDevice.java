package org.mqblock.virtio;

import java.util.List;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.block.driver.MemoryDriver;
import org.mqblock.core.loop.IOThread;
import org.mqblock.memory.Dma;

/**
 * A virtio-blk device driven by hand: the test writes descriptors, ring entries and indices
 * itself, so it can write what no correct driver would. The device is served by the given
 * IOThread, shared with whatever else the test runs there.
 */
final class RawDevice implements AutoCloseable {

    static final int NUM = 8;

    final VirtioBlk device;
    final GuestMemory mem;
    final Dma dma;
    final long desc;
    final long avail;
    final long used;
    /** A buffer area for request headers, data and status. */
    final long buffers;
    private int availIdx;

    RawDevice(String name, IOThread io, GuestMemory mem, long features) {
        this(io, mem, features, new MemoryDriver(1 << 20), new VirtioBlk.Config(1, NUM, true, name));
    }

    /** Over {@code driver}, with {@code config} (one queue of {@link #NUM}). */
    RawDevice(IOThread io, GuestMemory mem, long features, BlockDriver driver, VirtioBlk.Config config) {
        this.mem = mem;
        this.dma = Dma.forCpu(mem.addressSpace());
        this.device = new VirtioBlk(config.serial(), driver, mem.addressSpace(), config, VqMapping.roundRobin(1, 1),
                List.of(io.context()), null);
        this.desc = mem.allocate(Vring.descTableBytes(NUM), 16);
        this.avail = mem.allocate(Vring.availBytes(NUM), 2);
        this.used = mem.allocate(Vring.usedBytes(NUM), 4);
        this.buffers = mem.allocate(64 * 1024, 4096);
        start(features);
    }

    /** Negotiates {@code features} (masked to what the device offers) and sets the queue up again. */
    void start(long features) {
        device.negotiate(features & device.offeredFeatures() | (1L << Vring.F_VERSION_1));
        device.setupQueue(0, NUM, desc, avail, used);
        availIdx = 0;
        dma.writeU16(avail + Vring.AVAIL_IDX, 0);
        dma.writeU16(used + Vring.USED_IDX, 0);
        device.driverOk();
    }

    void desc(long table, int i, long addr, int len, int flags, int next) {
        long at = table + (long) Vring.DESC_SIZE * i;
        dma.writeU64(at + Vring.DESC_ADDR, addr);
        dma.writeU32(at + Vring.DESC_LEN, len);
        dma.writeU16(at + Vring.DESC_FLAGS, flags);
        dma.writeU16(at + Vring.DESC_NEXT, next);
    }

    void desc(int i, long addr, int len, int flags, int next) {
        desc(desc, i, addr, len, flags, next);
    }

    /** Makes {@code head} available and kicks. */
    void offer(int head) {
        dma.writeU16(avail + Vring.AVAIL_RING + 2L * (availIdx % NUM), head);
        availIdx = (availIdx + 1) & 0xffff;
        setAvailIdx(availIdx);
    }

    /** Stores the available index as given (a correct driver only ever adds what it wrote) and kicks. */
    void setAvailIdx(int idx) {
        java.lang.invoke.VarHandle.fullFence();
        dma.writeU16(avail + Vring.AVAIL_IDX, idx);
        java.lang.invoke.VarHandle.fullFence();
        device.kick(0);
    }

    int usedIdx() {
        return dma.readU16(used + Vring.USED_IDX);
    }

    /** A well-formed 4 KiB read of sector 0: header at +0, data at +4096, status at +8192. */
    void offerGoodRead(int head) {
        dma.writeU32(buffers + VirtioBlkSpec.HEADER_TYPE, VirtioBlkSpec.T_IN);
        dma.writeU64(buffers + VirtioBlkSpec.HEADER_SECTOR, 0);
        dma.writeU8(buffers + 8192, 0xff);
        desc(head, buffers, 16, Vring.DESC_F_NEXT, (head + 1) % NUM);
        desc((head + 1) % NUM, buffers + 4096, 4096, Vring.DESC_F_WRITE | Vring.DESC_F_NEXT, (head + 2) % NUM);
        desc((head + 2) % NUM, buffers + 8192, 1, Vring.DESC_F_WRITE, 0);
        offer(head);
    }

    int status() {
        return dma.readU8(buffers + 8192);
    }

    /** {@link #prepareRequest}, then offers it at head 0. */
    void offerRequest(int type, long sector, int len, boolean dataWritable) {
        prepareRequest(type, sector, len, dataWritable);
        offer(0);
    }

    /**
     * Writes a request at descriptors 0 to 2 as a driver makes it, not yet offered: header at +0,
     * {@code len} bytes of data at +4096 (none if 0), the status at +8192, each on its own page.
     */
    void prepareRequest(int type, long sector, int len, boolean dataWritable) {
        dma.writeU32(buffers + VirtioBlkSpec.HEADER_TYPE, type);
        dma.writeU64(buffers + VirtioBlkSpec.HEADER_SECTOR, sector);
        dma.writeU8(buffers + 8192, 0xff);
        if (len > 0) {
            desc(0, buffers, 16, Vring.DESC_F_NEXT, 1);
            desc(1, buffers + 4096, len, (dataWritable ? Vring.DESC_F_WRITE : 0) | Vring.DESC_F_NEXT, 2);
            desc(2, buffers + 8192, 1, Vring.DESC_F_WRITE, 0);
        } else {
            desc(0, buffers, 16, Vring.DESC_F_NEXT, 2);
            desc(2, buffers + 8192, 1, Vring.DESC_F_WRITE, 0);
        }
    }

    /** Waits (boundedly) until the used index reaches {@code idx}. */
    void awaitUsed(int idx) {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
        while (usedIdx() != idx) {
            if (System.nanoTime() > deadline || device.isBroken()) {
                throw new AssertionError("used index " + usedIdx() + ", waiting for " + idx
                        + (device.isBroken() ? "; broken: " + device.brokenReason() : ""));
            }
            Thread.onSpinWait();
        }
    }

    /** The used element at used index {@code i}: its id and its length. */
    int usedId(int i) {
        return dma.readU32(used + Vring.USED_RING + (long) Vring.USED_ELEM_SIZE * (i % NUM));
    }

    int usedLen(int i) {
        return dma.readU32(used + Vring.USED_RING + (long) Vring.USED_ELEM_SIZE * (i % NUM) + 4);
    }

    @Override
    public void close() {
        device.close();
    }
}
