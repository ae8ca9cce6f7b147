package org.mqblock.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.mqblock.memory.DirtyBitmap;
import org.mqblock.memory.DirtyClient;

/** The device reaches guest RAM only through its Dma, so what it writes there is dirty-logged. */
class DirtyTrackingTest {

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void dataTheDeviceWritesIntoGuestBuffersMarksTheirPagesDirty() throws Exception {
        try (VirtioBlkRig rig = VirtioBlkRig.start(VirtioBlkRig.Options.defaults(VirtioBlkRig.Mode.SQ_IOTHREAD,
                "driver=memory,size=1M", 1).withSlots(1, 16384).withPin(false))) {
            GuestBlkDriver.Vcpu vcpu = rig.vcpu(0);
            vcpu.bind();
            GuestBlkDriver.Slot slot = vcpu.freeSlot();
            long base = rig.memory().base();
            var ram = rig.memory().ram();
            ram.startDirtyLog(DirtyClient.MIGRATION);
            DirtyBitmap bitmap = ram.dirtyBitmap(DirtyClient.MIGRATION);
            long[] snapshot = new long[(int) ((ram.pages() + 63) / 64)];
            bitmap.testAndClearRange(0, ram.pages(), snapshot); // forget setup writes
            vcpu.submit(slot, VirtioBlkSpec.T_IN, 0, 16384);
            while (vcpu.awaitCompletions(s -> assertEquals(VirtioBlkSpec.S_OK, s.status())) == 0) {
                Thread.onSpinWait();
            }
            long firstPage = (slot.dataAddress() - base) >>> 12;
            for (long p = firstPage; p < firstPage + 4; p++) {
                assertTrue(bitmap.getDirty(p), "data page " + p + " the device wrote is dirty");
            }
            assertTrue(bitmap.getDirty((slot.status - base) >>> 12), "the status byte's page is dirty");
            vcpu.unbind();
        }
    }
}
