package org.mqblock.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.mqblock.core.loop.AioContext;

/**
 * Exact kick and interrupt counts for a scripted sequence, with and without EVENT_IDX and
 * DeferCall batching. The IOThread does not busy-poll (polling suppresses kicks on purpose, which
 * would make the counts depend on timing).
 *
 * <ol>
 *   <li>Ten requests one at a time, the interrupt armed before each: the idle device wants a kick
 *       for each, and the driver an interrupt for each.
 *   <li>Eight requests published while the device is held, then released: with EVENT_IDX only the
 *       first crosses {@code avail_event} (1 kick), without it every publish finds notifications
 *       on (8). The eight complete in one batch: one deferred interrupt decision (1), or without
 *       DeferCall one per completion, which EVENT_IDX still cuts to the first (1 or 8).
 * </ol>
 */
class NotificationCountTest {

    @ParameterizedTest(name = "EVENT_IDX {0}, DeferCall {1}")
    @CsvSource({
        "true, true, 1, 1",
        "false, true, 8, 1",
        "true, false, 1, 1",
        "false, false, 8, 8",
    })
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void kicksAndInterruptsAreExactlyWhatTheProtocolAsksFor(boolean eventIdx, boolean deferCall,
                                                             long batchKicks, long batchInterrupts) throws Exception {
        VirtioBlkRig.Options o = VirtioBlkRig.Options.defaults(VirtioBlkRig.Mode.SQ_IOTHREAD, "driver=memory,size=1M", 1)
                .withEventIdx(eventIdx).withDeferCall(deferCall).withPolling(false, 0).withSlots(8, 4096).withPin(false);
        try (VirtioBlkRig rig = VirtioBlkRig.start(o)) {
            GuestBlkDriver.Vcpu vcpu = rig.vcpu(0);
            Interrupt irq = rig.device().interrupt(0);
            AioContext deviceCtx = rig.iothreads().get(0).context();
            vcpu.bind();
            try {
                // Starting the queue kicks it once (chains made available while stopped). That
                // handler may run while the first request is published, and then finds it without
                // a kick: one request first, so the counted ones meet an idle device.
                oneRequest(vcpu, irq, deviceCtx, 0);
                long kicks0 = rig.kicks();
                long irqs0 = irq.count();
                for (int i = 0; i < 10; i++) {
                    oneRequest(vcpu, irq, deviceCtx, 4096L * i);
                }
                assertEquals(10, rig.kicks() - kicks0, "one kick per request on an idle device");
                assertEquals(10, irq.count() - irqs0, "one interrupt per request");

                deviceCtx.acquire(); // the device cannot run: every publish sees the same notification state
                vcpu.armInterrupt();
                for (int i = 0; i < 8; i++) {
                    vcpu.submit(vcpu.freeSlot(), VirtioBlkSpec.T_IN, 4096L * i, 4096);
                }
                deviceCtx.release();
                reapAll(vcpu, 8);
                while (irq.count() < irqs0 + 10 + batchInterrupts) {
                    Thread.onSpinWait();
                }
                rig.iothreads().get(0).context().acquire(); // the batch is over: nothing more can come
                rig.iothreads().get(0).context().release();
                assertEquals(10 + batchKicks, rig.kicks() - kicks0, "kicks for the batch");
                assertEquals(10 + batchInterrupts, irq.count() - irqs0, "interrupts for the batch");
            } finally {
                vcpu.unbind();
            }
        }
    }

    /** One request on an idle device; returns when the device is idle again. */
    private static void oneRequest(GuestBlkDriver.Vcpu vcpu, Interrupt irq, AioContext deviceCtx, long offset) {
        long before = irq.count();
        vcpu.armInterrupt();
        vcpu.submit(vcpu.freeSlot(), VirtioBlkSpec.T_IN, offset, 4096);
        while (irq.count() == before) {
            Thread.onSpinWait();
        }
        // The interrupt is raised before the handler re-enables notifications and looks at the
        // ring once more; a request published in between would be found without a kick. The
        // handler runs holding the device's context: once we get it, the handler has returned.
        deviceCtx.acquire();
        deviceCtx.release();
        reapAll(vcpu, 1);
    }

    private static void reapAll(GuestBlkDriver.Vcpu vcpu, int n) {
        int got = 0;
        while (got < n) {
            got += vcpu.reap(s -> assertEquals(VirtioBlkSpec.S_OK, s.status()));
        }
    }
}
