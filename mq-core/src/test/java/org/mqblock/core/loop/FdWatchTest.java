package org.mqblock.core.loop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Channel readiness through the context's Selector, as the NBD export uses it. */
class FdWatchTest {

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void readHandlerRunsInTheLoopForEveryByteSentFromAnotherThread() throws Exception {
        Pipe pipe = Pipe.open();
        final int total = 200_000;
        AtomicLong received = new AtomicLong();
        CountDownLatch all = new CountDownLatch(1);
        try (IOThread io = IOThread.start("reader", IOThread.UNPINNED);
             Pipe.SourceChannel source = pipe.source();
             Pipe.SinkChannel sink = pipe.sink()) {
            AioContext ctx = io.context();
            ByteBuffer buf = ByteBuffer.allocate(4096);
            String[] thread = new String[1];
            ctx.acquire();
            ctx.watchChannel(source, true, () -> {
                thread[0] = Thread.currentThread().getName();
                try {
                    int n;
                    while ((n = source.read(buf.clear())) > 0) {
                        if (received.addAndGet(n) == total) {
                            all.countDown();
                        }
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }, null);
            ctx.release();
            ByteBuffer out = ByteBuffer.allocate(100);
            for (int sent = 0; sent < total; sent += 100) {
                out.clear();
                while (out.hasRemaining()) {
                    sink.write(out);
                }
            }
            all.await();
            assertEquals(total, received.get());
            assertEquals("reader", thread[0]);
            assertEquals(0, io.failureCount());
        }
    }

    @Test
    void writeInterestFollowsTheHandlerAndExternalDisableSilencesTheChannel() throws Exception {
        Pipe pipe = Pipe.open();
        AioContext ctx = new AioContext("nbd-like");
        try (Pipe.SourceChannel source = pipe.source(); Pipe.SinkChannel sink = pipe.sink()) {
            AtomicInteger writable = new AtomicInteger();
            AtomicInteger readable = new AtomicInteger();
            ctx.acquire();
            FdWatch out = ctx.watchChannel(sink, true, null, null);
            FdWatch in = ctx.watchChannel(source, true, readable::incrementAndGet, null);
            ctx.poll(false);
            assertEquals(0, writable.get(), "no write handler, no interest");
            out.setWriteHandler(writable::incrementAndGet);
            ctx.poll(false);
            assertEquals(1, writable.get(), "an empty pipe is writable");
            out.setWriteHandler(null);
            ctx.poll(false);
            assertEquals(1, writable.get());

            sink.write(ByteBuffer.wrap(new byte[] {1}));
            ctx.disableExternal();
            ctx.poll(false);
            ctx.poll(false);
            assertEquals(0, readable.get(), "external channel silenced while disabled");
            ctx.enableExternal();
            ctx.poll(false);
            assertTrue(readable.get() >= 1, "readable again once enabled");
            source.read(ByteBuffer.allocate(1));
            in.close();
            out.close();
            int before = readable.get();
            sink.write(ByteBuffer.wrap(new byte[] {2}));
            ctx.poll(false);
            assertEquals(before, readable.get(), "an unwatched channel runs nothing");
            ctx.release();
        } finally {
            ctx.close();
        }
    }
}
