package org.mqblock.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.mqblock.nativeio.EventFd;

/** The irqfd form: each raise writes the eventfd once, so another process can wait on it. */
class InterruptTest {

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void eachRaiseWritesTheEventFdOnceAndWakesAReaderInAnotherThread() throws Exception {
        try (EventFd call = EventFd.create(EventFd.EFD_CLOEXEC)) { // blocking: the reader sleeps in read()
            Interrupt irq = new Interrupt("vq0", call);
            assertSame(call, irq.irqfd());
            long[] got = new long[1];
            Thread guest = new Thread(() -> got[0] = call.read(), "guest");
            guest.start();
            irq.raise();
            guest.join();
            assertEquals(1, got[0]);
            irq.raise();
            irq.raise();
            irq.raise();
            assertEquals(3, call.read()); // the counter sums what was not read yet
            assertEquals(4, irq.count());
        }
    }
}
