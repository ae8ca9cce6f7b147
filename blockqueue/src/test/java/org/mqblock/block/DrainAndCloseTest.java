package org.mqblock.block;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.IOThread;

/**
 * Drained sections silence every source of requests, not only external ones, as QEMU's {@code
 * blk_wait_while_drained} does: a request started during the section, from a completion callback
 * or a bottom half, waits in its queue until the section ends. And closing a node completes every
 * request it accepted, with ECANCELED for those that never started, so nobody waits forever.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class DrainAndCloseTest {

    /** Waits for {@code ctx} to run a bottom half: everything it had queued before has run. */
    private static void roundTrip(AioContext ctx) throws Exception {
        CompletableFuture<Void> f = new CompletableFuture<>();
        ctx.schedule(() -> f.complete(null));
        f.get(30, TimeUnit.SECONDS);
    }

    @Test
    void aCompletionThatResubmitsInItsOwnContextWaitsUntilTheDrainedSectionEnds() throws Exception {
        try (IOThread io = IOThread.start("resubmit", IOThread.UNPINNED);
             BlockBackend dev = BlockBackend.open("m", "driver=memory,size=1M", List.of(io.context()))) {
            BlockQueue q = dev.queue(0);
            AtomicInteger completions = new AtomicInteger();
            AtomicInteger failed = new AtomicInteger();
            AtomicInteger running = new AtomicInteger(4);
            java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
            for (int i = 0; i < 4; i++) {
                BlockRequest r = new BlockRequest();
                IoVector iov = IoVector.of(ByteBuffer.allocateDirect(4096));
                r.read(i * 4096L, iov, done -> {
                    completions.incrementAndGet();
                    if (done.status() != BlockStatus.OK) {
                        failed.incrementAndGet();
                    }
                    if (stop.get()) {
                        running.decrementAndGet();
                    } else {
                        done.queue().submit(done); // again, in its own context
                    }
                });
                io.context().schedule(() -> q.submit(r));
            }
            for (int round = 0; round < 20; round++) {
                CompletableFuture<Void> drained = CompletableFuture.runAsync(() -> dev.node().drainedBegin());
                drained.get(30, TimeUnit.SECONDS); // returns at once: the resubmitted requests wait
                assertEquals(0, q.inFlight(), "nothing in flight in a drained section");
                int before = completions.get();
                roundTrip(io.context());
                roundTrip(io.context());
                assertEquals(before, completions.get(), "no request ran during the drained section");
                dev.node().drainedEnd();
                while (completions.get() < before + 8) { // they run again once it ends
                    roundTrip(io.context());
                }
            }
            stop.set(true);
            while (running.get() > 0) {
                roundTrip(io.context());
            }
            assertEquals(0, failed.get());
            assertEquals(0, q.inFlight());
        }
    }

    /** Submits from a bottom half that reschedules itself in the queue's current context. */
    private static final class BottomHalfSubmitter implements Runnable {
        final BlockQueue q;
        final List<BlockRequest> idle = new ArrayList<>();
        final AtomicInteger submitted = new AtomicInteger();
        final AtomicInteger completed = new AtomicInteger();
        final AtomicInteger failed = new AtomicInteger();
        final CountDownLatch stopped = new CountDownLatch(1);
        volatile boolean stop;

        BottomHalfSubmitter(BlockQueue q) {
            this.q = q;
            for (int i = 0; i < 4; i++) {
                BlockRequest r = new BlockRequest();
                r.tag = i;
                idle.add(r);
            }
        }

        @Override
        public void run() {
            AioContext c = q.context();
            if (!c.isHeldByCurrentThread()) {
                c.schedule(this); // the queue moved: follow it
                return;
            }
            if (stop && idle.size() == 4) {
                stopped.countDown();
                return;
            }
            if (!stop && !idle.isEmpty()) {
                BlockRequest r = idle.remove(idle.size() - 1);
                r.write(r.tag * 4096, IoVector.of(TestIo.pattern(4096, (int) r.tag)), done -> {
                    completed.incrementAndGet();
                    if (done.status() != BlockStatus.OK) {
                        failed.incrementAndGet();
                    }
                    idle.add(done); // completions run in the queue's context, as this does
                });
                submitted.incrementAndGet();
                q.submit(r);
            }
            c.schedule(this);
        }
    }

    @Test
    void aBottomHalfSubmitterNeverLeavesRequestsInFlightForResizeOrMoveQueue() throws Exception {
        try (IOThread a = IOThread.start("bh-a", IOThread.UNPINNED); IOThread b = IOThread.start("bh-b", IOThread.UNPINNED);
             BlockBackend dev = BlockBackend.open("m", "driver=memory,size=1M", List.of(a.context()))) {
            BlockDriverState node = dev.node();
            BottomHalfSubmitter bh = new BottomHalfSubmitter(dev.queue(0));
            a.context().schedule(bh);
            List<AioContext> contexts = List.of(a.context(), b.context());
            for (int round = 0; round < 30; round++) {
                node.resize(round % 2 == 0 ? 2 << 20 : 1 << 20); // threw "request(s) in flight after draining"
                node.moveQueue(0, contexts.get(round % 2 == 0 ? 1 : 0)); // threw "cannot leave context"
            }
            bh.stop = true;
            assertTrue(bh.stopped.await(30, TimeUnit.SECONDS), "the bottom half's requests all completed");
            assertEquals(bh.submitted.get(), bh.completed.get(), "every request completed once");
            assertEquals(0, bh.failed.get());
            assertTrue(bh.submitted.get() > 0);
        }
    }

    @Test
    void closeCompletesRequestsWaitingInRingsWithEcanceledAndWakesTheWaiter() throws Exception {
        try (IOThread io = IOThread.start("close", IOThread.UNPINNED)) {
            BlockBackend dev = BlockBackend.open("slow", "driver=latency,size=1M,latency-us=20000,dist=fixed,parallelism=8",
                    List.of(io.context()));
            QueueSubmitter s = dev.newSubmitter(0, 16);
            CountDownLatch startedFirst = new CountDownLatch(1);
            CountDownLatch drained = new CountDownLatch(1);
            CountDownLatch queuedSecond = new CountDownLatch(1);
            CountDownLatch closed = new CountDownLatch(1);
            List<Integer> statuses = java.util.Collections.synchronizedList(new ArrayList<>());
            AtomicReference<Throwable> afterClose = new AtomicReference<>();
            Workers workers = new Workers().start("submitter", () -> {
                try {
                    for (int i = 0; i < 4; i++) { // these start before the drain and complete normally
                        s.submit(new BlockRequest().read(i * 4096L, IoVector.of(ByteBuffer.allocateDirect(4096)), r -> {}));
                    }
                    startedFirst.countDown();
                    drained.await();
                    for (int i = 0; i < 8; i++) { // these wait in the ring, silenced by the drain
                        s.submit(new BlockRequest().write(i * 4096L, IoVector.of(TestIo.pattern(4096, i)), r -> {}));
                    }
                    queuedSecond.countDown();
                    while (statuses.size() < 12) {
                        s.awaitCompletions(r -> statuses.add(r.status()), 16); // woken by close
                    }
                    closed.await();
                    try {
                        s.submit(new BlockRequest().flush(r -> {}));
                    } catch (IllegalStateException expected) {
                        afterClose.set(expected);
                    }
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
            });
            assertTrue(startedFirst.await(30, TimeUnit.SECONDS));
            while (dev.queue(0).inFlight() + dev.queue(0).stats().reads() < 4) { // taken from the ring, at least
                roundTrip(io.context());
            }
            dev.node().drainedBegin();
            drained.countDown();
            assertTrue(queuedSecond.await(30, TimeUnit.SECONDS));
            dev.close(); // nested in the drained section: the ring is never served
            closed.countDown();
            dev.node().drainedEnd();
            workers.join(Duration.ofSeconds(30));
            long ok = statuses.stream().filter(st -> st == BlockStatus.OK).count();
            long cancelled = statuses.stream().filter(st -> st == BlockStatus.ECANCELED).count();
            assertEquals(4, ok, "started before the drain: completed " + statuses);
            assertEquals(8, cancelled, "never started: cancelled " + statuses);
            assertTrue(afterClose.get() != null && afterClose.get().getMessage().contains("closed"),
                    "a submitter of a closed node refuses new requests: " + afterClose.get());
        }
    }

    @Test
    void closeCancelsARequestStartedByABottomHalfDuringItsDrain() throws Exception {
        try (IOThread io = IOThread.start("close-parked", IOThread.UNPINNED)) {
            BlockBackend dev = BlockBackend.open("m", "driver=memory,size=1M", List.of(io.context()));
            BlockQueue q = dev.queue(0);
            CompletableFuture<Integer> status = new CompletableFuture<>();
            BlockRequest r = new BlockRequest().write(0, IoVector.of(TestIo.pattern(4096, 1)), done -> status.complete(done.status()));
            dev.node().drainedBegin();
            io.context().schedule(() -> q.submit(r)); // not an external source: the drain does not silence it
            roundTrip(io.context());
            assertEquals(0, q.inFlight(), "it waits for the section's end, not in flight");
            dev.close();
            assertEquals(BlockStatus.ECANCELED, status.get(30, TimeUnit.SECONDS));
            dev.node().drainedEnd();
        }
    }
}
