package org.mqblock.block;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.block.driver.DriverCapabilities;
import org.mqblock.block.driver.DriverQueue;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.IOThread;
import org.mqblock.core.loop.Timer;

class BlockQueueTest {

    @Test
    @Timeout(value = 180, unit = TimeUnit.SECONDS)
    void submittersFromManyThreadsCompleteEveryRequestExactlyOnce() throws Exception {
        final int threads = 4;
        final int perThread = 50_000;
        final int depth = 32;
        try (IOThread a = IOThread.start("q-a", IOThread.UNPINNED); IOThread b = IOThread.start("q-b", IOThread.UNPINNED);
             BlockBackend dev = BlockBackend.open("mem", "driver=memory,size=64M,queues=2", List.of(a.context(), b.context()))) {
            AtomicLong duplicates = new AtomicLong();
            AtomicLong errors = new AtomicLong();
            Workers workers = new Workers();
            for (int t = 0; t < threads; t++) {
                final int id = t;
                QueueSubmitter s = dev.newSubmitter(t % 2, depth);
                workers.start("submitter-" + t, () -> {
                    BitSet done = new BitSet(perThread);
                    BlockRequest[] slots = new BlockRequest[depth];
                    ArrayList<BlockRequest> freeSlots = new ArrayList<>();
                    for (int i = 0; i < depth; i++) {
                        slots[i] = new BlockRequest();
                        slots[i].tag = -1;
                        freeSlots.add(slots[i]);
                    }
                    IoVector[] iovs = new IoVector[depth];
                    for (int i = 0; i < depth; i++) {
                        iovs[i] = IoVector.of(ByteBuffer.allocateDirect(4096));
                    }
                    int next = 0;
                    int completed = 0;
                    java.util.function.Consumer<BlockRequest> reap = r -> {
                        assertTrue(java.util.Arrays.asList(slots).contains(r),
                                () -> "submitter " + id + " reaped a request it never submitted: " + r);
                        if (r.status() != BlockStatus.OK) {
                            errors.incrementAndGet();
                        }
                        if (done.get((int) r.tag)) {
                            duplicates.incrementAndGet();
                        }
                        done.set((int) r.tag);
                        freeSlots.add(r);
                    };
                    while (completed < perThread) {
                        while (next < perThread && !freeSlots.isEmpty()) {
                            BlockRequest r = freeSlots.remove(freeSlots.size() - 1);
                            int slot = java.util.Arrays.asList(slots).indexOf(r);
                            long offset = ((long) (next * 7 + id) % 16384) * 4096;
                            if ((next & 1) == 0) {
                                r.write(offset, iovs[slot], s);
                            } else {
                                r.read(offset, iovs[slot], s);
                            }
                            r.tag = next++;
                            assertTrue(s.offer(r));
                        }
                        s.kick();
                        completed += s.awaitCompletions(reap, depth);
                    }
                    assertEquals(perThread, completed, "completions reaped by submitter " + id);
                    assertEquals(perThread, done.cardinality(), "distinct requests completed");
                    assertEquals(0, s.outstanding());
                    s.close();
                });
            }
            workers.join(Duration.ofSeconds(150));
            assertEquals(0, duplicates.get());
            assertEquals(0, errors.get());
            long total = dev.queue(0).stats().completed() + dev.queue(1).stats().completed();
            assertEquals((long) threads * perThread, total);
            assertEquals(0, dev.node().inFlight());
            assertEquals(0, a.failureCount() + b.failureCount());
        }
    }

    /**
     * The tightest loop a benchmark runs: each reaped request is resubmitted at once, from inside
     * the reap, while the IOThread busy-polls the submission ring. Rings sized to the depth alone
     * overflowed here (a drain keeps its consumed slots until it returns).
     */
    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void resubmittingFromInsideReapNeverOverflowsARing() throws Exception {
        final long total = 3_000_000;
        try (IOThread a = IOThread.start("tight", IOThread.UNPINNED);
             BlockBackend dev = BlockBackend.open("n", "driver=null,size=1G", List.of(a.context()))) {
            QueueSubmitter s = dev.newSubmitter(0, 32);
            long[] submitted = {0};
            java.util.function.Consumer<BlockRequest> again = r -> {
                assertEquals(BlockStatus.OK, r.status());
                if (submitted[0] < total) {
                    r.read((submitted[0] % 1024) * 4096, r.iov(), s);
                    assertTrue(s.offer(r), "the submitter refused a request within its depth");
                    submitted[0]++;
                }
            };
            for (int i = 0; i < 32; i++) {
                assertTrue(s.offer(new BlockRequest().read(0, IoVector.of(ByteBuffer.allocateDirect(4096)), s)));
                submitted[0]++;
            }
            s.kick();
            long reaped = 0;
            while (reaped < total) {
                reaped += s.awaitCompletions(again, 32);
                s.kick();
            }
            assertEquals(total, reaped);
            assertEquals(total, submitted[0]);
            assertEquals(0, s.outstanding(), "every submitted request was reaped, none twice");
            assertEquals(0, a.failureCount(), "the IOThread saw " + a.firstFailure());
            s.close();
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void submitterRefusesMoreThanItsDepth() throws Exception {
        try (IOThread a = IOThread.start("depth", IOThread.UNPINNED);
             BlockBackend dev = BlockBackend.open("n", "driver=null,size=1M", List.of(a.context()))) {
            QueueSubmitter s = dev.newSubmitter(0, 2);
            IoVector iov = IoVector.of(ByteBuffer.allocateDirect(512));
            assertTrue(s.offer(new BlockRequest().read(0, iov, s)));
            assertTrue(s.offer(new BlockRequest().read(0, iov, s)));
            assertFalse(s.offer(new BlockRequest().read(0, iov, s)), "a third would overflow the completion ring");
            s.kick();
            int reaped = 0;
            while (reaped < 2) {
                reaped += s.awaitCompletions(r -> assertEquals(BlockStatus.OK, r.status()), 8);
            }
            assertEquals(2, reaped);
            assertEquals(0, s.outstanding());
            s.close();
        }
    }

    /** A driver that is not multiqueue-safe and records how many requests it ever held at once. */
    static final class ExclusiveDriver implements BlockDriver {
        final AtomicInteger active = new AtomicInteger();
        final AtomicInteger maxActive = new AtomicInteger();

        @Override
        public String format() {
            return "exclusive";
        }

        @Override
        public long length() {
            return 1 << 20;
        }

        @Override
        public DriverCapabilities capabilities() {
            return new DriverCapabilities(false, 512, 1 << 20, true, true);
        }

        @Override
        public DriverQueue attach(AioContext ctx) {
            return new DriverQueue() {
                private void start(BlockRequest r) {
                    maxActive.accumulateAndGet(active.incrementAndGet(), Math::max);
                    Timer[] t = new Timer[1];
                    t[0] = ctx.newTimer("done", () -> {
                        active.decrementAndGet();
                        r.queue().complete(r, BlockStatus.OK);
                    });
                    t[0].armAfter(20_000);
                }

                @Override public void readv(BlockRequest r) { start(r); }
                @Override public void writev(BlockRequest r) { start(r); }
                @Override public void flush(BlockRequest r) { start(r); }
                @Override public void discard(BlockRequest r) { start(r); }
                @Override public void writeZeroes(BlockRequest r) { start(r); }
                @Override public void detach() {}
            };
        }

        @Override
        public void truncate(long newLength) {}

        @Override
        public void close() {}
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void aDriverThatIsNotMultiqueueSafeSeesOneRequestAtATime() throws Exception {
        ExclusiveDriver driver = new ExclusiveDriver();
        try (IOThread a = IOThread.start("ex-a", IOThread.UNPINNED); IOThread b = IOThread.start("ex-b", IOThread.UNPINNED)) {
            BlockDriverState bs = BlockDriverState.create("ex", driver, List.of(a.context(), b.context(), a.context()));
            Workers threads = new Workers();
            AtomicLong completed = new AtomicLong();
            for (int q = 0; q < 3; q++) {
                QueueSubmitter s = bs.newSubmitter(q, 8);
                threads.start("q" + q, () -> {
                    IoVector iov = IoVector.of(ByteBuffer.allocateDirect(512));
                    int left = 300;
                    while (left > 0 || s.outstanding() > 0) {
                        while (left > 0 && s.offer(new BlockRequest().write(0, iov, s))) {
                            left--;
                        }
                        s.kick();
                        completed.addAndGet(s.awaitCompletions(r -> assertEquals(BlockStatus.OK, r.status()), 8));
                    }
                    s.close();
                });
            }
            threads.join(Duration.ofSeconds(100));
            assertEquals(900, completed.get());
            assertEquals(1, driver.maxActive.get(), "the node was serialized across three queues on two IOThreads");
            assertEquals(0, driver.active.get());
            assertEquals(0, a.failureCount() + b.failureCount(), "an IOThread saw " + a.firstFailure() + " / " + b.firstFailure());
            bs.close();
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aDeviceWithOneChannelServesRequestsInArrivalOrder() throws Exception {
        try (IOThread a = IOThread.start("nvme", IOThread.UNPINNED);
             BlockBackend dev = BlockBackend.open("lat", "driver=latency,size=1M,latency-us=200,dist=fixed,parallelism=1",
                     List.of(a.context()))) {
            QueueSubmitter s = dev.newSubmitter(0, 32);
            IoVector iov = IoVector.of(ByteBuffer.allocateDirect(512));
            for (int i = 0; i < 32; i++) {
                BlockRequest r = new BlockRequest().read(0, iov, s);
                r.tag = i;
                assertTrue(s.offer(r));
            }
            s.kick();
            List<Long> order = new ArrayList<>();
            while (order.size() < 32) {
                s.awaitCompletions(r -> order.add(r.tag), 32);
            }
            assertEquals(32, order.size(), "each request completed once");
            for (int i = 0; i < 32; i++) {
                assertEquals(i, order.get(i), "one channel: first come, first served");
            }
            s.close();
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aDrainedSectionHoldsNewRequestsInTheirRingAndResumesThem() throws Exception {
        try (IOThread a = IOThread.start("drained", IOThread.UNPINNED);
             BlockBackend dev = BlockBackend.open("mem", "driver=memory,size=1M", List.of(a.context()))) {
            QueueSubmitter s = dev.newSubmitter(0, 4);
            IoVector iov = IoVector.of(ByteBuffer.allocateDirect(512));
            dev.node().drainedBegin();
            assertTrue(dev.node().isDrained());
            assertTrue(s.submit(new BlockRequest().read(0, iov, s)));
            Thread.sleep(50); // plenty of loop iterations in which the queue must not take it
            assertEquals(0, s.reap(r -> {}, 4), "no external request runs in a drained section");
            assertEquals(0, dev.node().inFlight());
            dev.node().drainedEnd();
            int n = 0;
            while (n == 0) {
                n = s.awaitCompletions(r -> assertEquals(BlockStatus.OK, r.status()), 4);
            }
            assertEquals(1, n);
            assertEquals(0, s.outstanding());
            org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, dev.node()::drainedEnd);
            s.close();
        }
    }
}
