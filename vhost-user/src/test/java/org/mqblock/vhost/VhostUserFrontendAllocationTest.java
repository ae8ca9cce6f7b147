package org.mqblock.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.mqblock.nativeio.UnixSocket;
import org.mqblock.virtio.VirtioBlkSpec;

/**
 * The submitter's hot path (take a slot, add, publish, await, reap) allocates nothing per
 * request: over 20,000 requests after a warm-up (the best of up to 5 such rounds), the submitting thread allocates less than 8
 * bytes per request on average, half the smallest object, so no request allocates one. What it
 * does allocate (about 2 bytes per request here) is the FFM runtime's: a downcall that captures
 * errno slices its capture segment, an object C2 removes only once the path is fully compiled
 * (JFR's allocation samples name SharedUtils.checkCaptureSegment under Libc.poll, read, write).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class VhostUserFrontendAllocationTest {

    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    private long completed;

    @Test
    void theSubmitPathAllocatesNothingPerRequest() throws Exception {
        UnixSocket[] ours = new UnixSocket[1];
        try (FakeBackend backend = new FakeBackend(FakeBackend.Fault.NONE, ours)) {
            VhostUserFrontend f = VhostUserFrontend.connect(ours[0], VhostUserFrontend.Options.builder()
                    .slots(8).maxBytes(512).build());
            try {
                FrontendQueue q = f.queue(0);
                FrontendQueue.Completion done = (slot, status) -> completed++;
                run(q, done, 200_000); // warm-up: the JIT compiles the loop
                int n = 20_000;
                long best = Long.MAX_VALUE;
                int rounds = 0;
                // A request that allocates does so in every round; the runtime's residue shrinks as
                // compilation finishes, which on a loaded 2-CPU machine took more than 5 rounds (13 B
                // per request in the best of 5 once): the best of up to 30 rounds must pass.
                while (rounds < 30 && best >= 8L * n) {
                    long before = THREADS.getCurrentThreadAllocatedBytes();
                    run(q, done, n);
                    best = Math.min(best, THREADS.getCurrentThreadAllocatedBytes() - before);
                    rounds++;
                }
                assertEquals(200_000 + (long) rounds * n, completed, "every request completed once");
                assertTrue(best < 8L * n, best + " bytes allocated for " + n + " requests in the best of " + rounds + " rounds");
            } finally {
                f.close();
            }
        }
    }

    private static void run(FrontendQueue q, FrontendQueue.Completion done, int requests) {
        int made = 0;
        while (made < requests || q.inFlight() > 0) {
            while (made < requests) {
                int s = q.takeSlot();
                if (s < 0) {
                    break;
                }
                q.add(s, VirtioBlkSpec.T_IN, (long) (made % 1024) * 512, 512);
                made++;
            }
            q.publish();
            q.await(done);
        }
    }
}
