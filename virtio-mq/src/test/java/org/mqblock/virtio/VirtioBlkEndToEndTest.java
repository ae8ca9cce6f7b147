package org.mqblock.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.mqblock.core.loop.IOThread;

/** Data written through the guest driver reads back right, in every mode, on RAM and on a file. */
class VirtioBlkEndToEndTest {

    @TempDir
    Path dir;

    @ParameterizedTest(name = "{0} on {1}, EVENT_IDX {2}")
    @CsvSource({
        "sq-global, memory, true",
        "sq-iothread, memory, true",
        "mq, memory, true",
        "mq, memory, false",
        "sq-global, file, true",
        "sq-iothread, file, false",
        "mq, file, true",
        "mq-polling, memory, true",
    })
    @Timeout(value = 180, unit = TimeUnit.SECONDS)
    void everyReadReturnsTheLastWrite(String mode, String backend, boolean eventIdx) throws Exception {
        String device = backend.equals("memory") ? "driver=memory,size=16M"
                : "driver=file,filename=" + dir.resolve("disk.raw") + ",size=16M";
        boolean polling = mode.endsWith("-polling"); // vCPUs poll the used ring, interrupts off
        VirtioBlkRig.Options o = VirtioBlkRig.Options.defaults(VirtioBlkRig.Mode.parse(mode.replace("-polling", "")), device, 4)
                .withQueues(0, 2, "round-robin").withEventIdx(eventIdx).withSlots(8, 4096).withPin(false)
                .withPolling(polling, 32768);
        try (VirtioBlkRig rig = VirtioBlkRig.start(o)) {
            GuestVerify v = new GuestVerify(rig, 4 << 20, 3_000).run();
            assertEquals(0, v.failures.get(), "first failure: " + v.firstFailure.get());
            assertEquals(v.submitted.get(), v.completed.get(), "requests lost");
            assertTrue(v.reads.get() > 1000 && v.writes.get() > 1000, v.reads + " reads, " + v.writes + " writes");
            assertEquals(o.virtqueues(), rig.device().numQueues());
            assertTrue(!rig.device().isBroken(), rig.device().brokenReason());
            for (IOThread t : rig.iothreads()) {
                assertEquals(0, t.failureCount(), t.id() + ": " + t.firstFailure());
            }
            assertTrue(rig.kicks() > 0, "kicks " + rig.kicks());
            // Polling vCPUs keep interrupts off; EVENT_IDX still lets the first completion per queue through.
            assertTrue(polling ? rig.interrupts() <= rig.device().numQueues() : rig.interrupts() > 0,
                    "interrupts " + rig.interrupts());
            assertEquals(0, rig.device().node().inFlight());
        }
    }
}
