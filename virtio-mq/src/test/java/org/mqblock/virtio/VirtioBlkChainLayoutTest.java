package org.mqblock.virtio;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.mqblock.core.loop.IOThread;

/**
 * Chain layouts a device must accept. VIRTIO 1.2 2.7.5.3.2: "The device MUST handle the case of
 * zero or more normal chained descriptors followed by a single descriptor with
 * flags&VIRTQ_DESC_F_INDIRECT" (QEMU's virtqueue_split_pop accepts one only at the head). Each
 * request here puts its header in a direct descriptor and the rest in an indirect table.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class VirtioBlkChainLayoutTest {

    private IOThread io;
    private GuestMemory mem;
    private RawDevice d;

    @BeforeEach
    void start() {
        io = IOThread.start("chain-io", IOThread.UNPINNED);
        mem = GuestMemory.create("guest", 8 << 20, 1L << 32);
        d = new RawDevice("vblk", io, mem, ~0L);
    }

    @AfterEach
    void stop() {
        d.close();
        io.close();
        mem.close();
    }

    private static byte[] pattern(int seed) {
        byte[] b = new byte[4096];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) (seed + i * 7);
        }
        return b;
    }

    @Test
    void directDescriptorsFollowedByOneIndirectTableAreOneRequest() {
        long header = d.buffers;
        long data = d.buffers + 4096;
        long status = d.buffers + 8192;
        long table = d.buffers + 16384;

        // Write: header direct (0), then an indirect table (1) holding data and status.
        d.dma.writeU32(header + VirtioBlkSpec.HEADER_TYPE, VirtioBlkSpec.T_OUT);
        d.dma.writeU64(header + VirtioBlkSpec.HEADER_SECTOR, 8);
        d.dma.write(data, pattern(3), 0, 4096);
        d.dma.writeU8(status, 0xff);
        d.desc(table, 0, data, 4096, Vring.DESC_F_NEXT, 1);
        d.desc(table, 1, status, 1, Vring.DESC_F_WRITE, 0);
        d.desc(0, header, 16, Vring.DESC_F_NEXT, 1);
        d.desc(1, table, 32, Vring.DESC_F_INDIRECT, 0);
        d.offer(0);
        d.awaitUsed(1);
        assertEquals(VirtioBlkSpec.S_OK, d.dma.readU8(status));
        assertEquals(1, d.usedLen(0));

        // Read it back: header and data direct (0, 1), the status alone in the table (2).
        d.dma.writeU32(header + VirtioBlkSpec.HEADER_TYPE, VirtioBlkSpec.T_IN);
        d.dma.write(data, new byte[4096], 0, 4096);
        d.dma.writeU8(status, 0xff);
        d.desc(table, 0, status, 1, Vring.DESC_F_WRITE, 0);
        d.desc(0, header, 16, Vring.DESC_F_NEXT, 1);
        d.desc(1, data, 4096, Vring.DESC_F_WRITE | Vring.DESC_F_NEXT, 2);
        d.desc(2, table, 16, Vring.DESC_F_INDIRECT | Vring.DESC_F_WRITE, 0); // WRITE on it is ignored
        d.offer(0);
        d.awaitUsed(2);
        assertFalse(d.device.isBroken(), d.device.brokenReason());
        assertEquals(VirtioBlkSpec.S_OK, d.dma.readU8(status));
        assertEquals(4097, d.usedLen(1));
        byte[] got = new byte[4096];
        d.dma.read(data, got, 0, 4096);
        assertArrayEquals(pattern(3), got);
    }
}
