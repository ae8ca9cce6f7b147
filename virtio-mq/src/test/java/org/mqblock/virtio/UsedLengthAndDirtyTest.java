package org.mqblock.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Timeout;
import org.mqblock.core.loop.IOThread;
import org.mqblock.memory.DirtyBitmap;
import org.mqblock.memory.DirtyClient;

/**
 * What each answer reports and marks: the used length is the data actually written plus the
 * status byte (no more), and the status byte, the last byte the device writes, is always dirty, so
 * a live migration carries the status of a failed request too. Header, data and status are each
 * on their own page, so the dirty pages say exactly which were written.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class UsedLengthAndDirtyTest {

    private IOThread io;
    private GuestMemory mem;
    private RawDevice d;

    @BeforeEach
    void start() {
        io = IOThread.start("dirty-io", IOThread.UNPINNED);
        mem = GuestMemory.create("guest", 8 << 20, 1L << 32);
        d = new RawDevice("vblk", io, mem, ~0L);
    }

    @AfterEach
    void stop() {
        d.close();
        io.close();
        mem.close();
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        // what, type, sector, data bytes, data writable, status, used length, data page dirty
        "read,                      0, 0,     4096, true,  0, 4097, true",
        "read past the end,         0, 4096,  4096, true,  1, 1,    false",
        "misaligned read,           0, 0,     100,  true,  1, 1,    false",
        "write,                     1, 0,     4096, false, 0, 1,    false",
        "GET_ID into 512 bytes,     8, 0,     512,  true,  0, 21,   true",
        "GET_ID into 8 bytes,       8, 0,     8,    true,  0, 9,    true",
        "unsupported type,          99, 0,    512,  true,  2, 1,    false",
        "flush,                     4, 0,     0,    false, 0, 1,    false",
    })
    void usedLengthIsDataWrittenPlusStatusAndTheStatusPageIsAlwaysDirty(String what, int type, long sector, int len,
                                                                        boolean writable, int status, int usedLen,
                                                                        boolean dataDirty) {
        var ram = mem.ram();
        ram.startDirtyLog(DirtyClient.MIGRATION);
        DirtyBitmap bitmap = ram.dirtyBitmap(DirtyClient.MIGRATION);
        long[] scratch = new long[(int) ((ram.pages() + 63) / 64)];
        d.prepareRequest(type, sector, len, writable);
        bitmap.testAndClearRange(0, ram.pages(), scratch); // forget the driver's own writes: what is dirty now, the device wrote
        d.offer(0);
        d.awaitUsed(1);
        long statusPage = (d.buffers + 8192 - mem.base()) >>> 12;
        long dataPage = (d.buffers + 4096 - mem.base()) >>> 12;
        long headerPage = (d.buffers - mem.base()) >>> 12;
        assertEquals(status, d.status(), what + ": status");
        assertEquals(usedLen, d.usedLen(0), what + ": used length");
        assertEquals(0, d.usedId(0));
        assertTrue(bitmap.getDirty(statusPage), what + ": the status byte's page is dirty");
        assertEquals(dataDirty, bitmap.getDirty(dataPage), what + ": the data page is dirty only if the device wrote it");
        assertFalse(bitmap.getDirty(headerPage), what + ": the device only read the header");
        ram.stopDirtyLog(DirtyClient.MIGRATION);
    }
}
