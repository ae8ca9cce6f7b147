package org.mqblock.core.loop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

class EventNotifierTest {

    @Test
    void repeatedSetsBeforeThePollRunTheHandlerOnce() {
        AioContext ctx = new AioContext("coalescing");
        AtomicInteger runs = new AtomicInteger();
        EventNotifier n = new EventNotifier("kick");
        ctx.acquire();
        ctx.setEventNotifier(n, false, runs::incrementAndGet, null);
        n.set();
        n.set();
        n.set();
        assertTrue(ctx.poll(false));
        assertEquals(1, runs.get());
        assertFalse(n.isSet());
        assertFalse(ctx.poll(false));
        ctx.removeEventNotifier(n);
        ctx.release();
        ctx.close();
    }

    @Test
    void externalSourcesWaitWhileDisabledAndFireOnEnable() {
        AioContext ctx = new AioContext("drained");
        AtomicInteger guest = new AtomicInteger();
        AtomicInteger internal = new AtomicInteger();
        EventNotifier ioeventfd = new EventNotifier("ioeventfd");
        EventNotifier completion = new EventNotifier("completion");
        ctx.acquire();
        ctx.setEventNotifier(ioeventfd, true, guest::incrementAndGet, null);
        ctx.setEventNotifier(completion, false, internal::incrementAndGet, null);
        ctx.disableExternal();
        ctx.disableExternal(); // nests
        ioeventfd.set();
        completion.set();
        ctx.poll(false);
        assertEquals(0, guest.get(), "external source silenced");
        assertEquals(1, internal.get(), "internal sources keep running in a drained section");
        ctx.enableExternal();
        ctx.poll(false);
        assertEquals(0, guest.get(), "still disabled once");
        assertTrue(ioeventfd.isSet(), "the event waits, it is not lost");
        ctx.enableExternal();
        assertTrue(ctx.poll(false));
        assertEquals(1, guest.get());
        IllegalStateException e = assertThrows(IllegalStateException.class, ctx::enableExternal);
        assertTrue(e.getMessage().contains("without disableExternal"), e.getMessage());
        ctx.removeEventNotifier(ioeventfd);
        ctx.removeEventNotifier(completion);
        ctx.release();
        ctx.close();
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void notifierSetWhileUnwatchedFiresOnceMovedToAnotherContext() throws Exception {
        try (IOThread a = IOThread.start("a", IOThread.UNPINNED); IOThread b = IOThread.start("b", IOThread.UNPINNED)) {
            EventNotifier n = new EventNotifier("vq0");
            CountDownLatch inA = new CountDownLatch(1);
            CountDownLatch inB = new CountDownLatch(1);
            String[] ranOn = new String[2];
            a.context().acquire();
            a.context().setEventNotifier(n, false, () -> {
                ranOn[0] = Thread.currentThread().getName();
                inA.countDown();
            }, null);
            a.context().release();
            n.set();
            inA.await();
            a.context().acquire();
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> {
                        b.context().acquire();
                        try {
                            b.context().setEventNotifier(n, false, () -> {}, null);
                        } finally {
                            b.context().release();
                        }
                    });
            assertTrue(e.getMessage().contains("'a'"), e.getMessage());
            a.context().removeEventNotifier(n);
            a.context().release();
            n.set(); // nobody watches: stays set
            b.context().acquire();
            b.context().setEventNotifier(n, false, () -> {
                ranOn[1] = Thread.currentThread().getName();
                inB.countDown();
            }, null);
            b.context().release();
            inB.await();
            assertEquals("a", ranOn[0]);
            assertEquals("b", ranOn[1]);
            b.context().acquire();
            b.context().removeEventNotifier(n);
            b.context().release();
        }
    }
}
