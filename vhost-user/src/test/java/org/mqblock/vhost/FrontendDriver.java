package org.mqblock.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.mqblock.virtio.VirtioBlkSpec;

/**
 * Drives a {@link VhostUserFrontend}'s queues from one thread each, for the tests: every queue
 * writes or reads its own blocks (block b belongs to queue b mod queues) with up to {@code depth}
 * in flight, publishing a batch at a time, and counts how often each block's request completed.
 * Data is a pattern of (block, generation) so that a read returning another block's or an older
 * write's bytes shows.
 */
final class FrontendDriver {

    private FrontendDriver() {}

    static byte[] pattern(long block, int generation, int bs) {
        byte[] b = new byte[bs];
        long x = block * 0x9e3779b97f4a7c15L + generation * 0xc2b2ae3d27d4eb4fL + 1;
        for (int i = 0; i < bs; i += 8) {
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            for (int k = 0; k < 8 && i + k < bs; k++) {
                b[i + k] = (byte) (x >>> (8 * k));
            }
        }
        return b;
    }

    /** What one pass over a queue's blocks saw. */
    static final class Pass {
        final int[] completedPerBlock;
        long wrongData;
        long notOk;
        String firstWrong;

        Pass(int blocks) {
            completedPerBlock = new int[blocks];
        }
    }

    /**
     * Every queue, in its own thread, issues {@code type} (T_OUT writes pattern(block, generation),
     * T_IN reads and, if {@code check}, compares with it) on each of its blocks once. Returns one
     * Pass per queue; rethrows the first thread's failure.
     */
    static Pass[] pass(VhostUserFrontend f, int type, long blocks, int bs, int depth, int generation, boolean check)
            throws InterruptedException {
        int nq = f.queueCount();
        Pass[] passes = new Pass[nq];
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        for (int qi = 0; qi < nq; qi++) {
            FrontendQueue q = f.queue(qi);
            Pass p = new Pass((int) blocks);
            passes[qi] = p;
            int first = qi;
            Thread t = new Thread(() -> {
                try {
                    run(q, p, type, first, nq, blocks, bs, depth, generation, check);
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }, "submitter-" + qi);
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            t.join();
        }
        if (failure.get() != null) {
            throw new AssertionError("a submitter failed: " + failure.get(), failure.get());
        }
        return passes;
    }

    private static void run(FrontendQueue q, Pass p, int type, int first, int stride, long blocks, int bs, int depth,
                            int generation, boolean check) {
        long[] blockOfSlot = new long[q.slots()];
        byte[] buf = new byte[bs];
        FrontendQueue.Completion done = (slot, status) -> {
            long b = blockOfSlot[slot];
            p.completedPerBlock[(int) b]++;
            if (status != VirtioBlkSpec.S_OK) {
                p.notOk++;
                return;
            }
            if (type == VirtioBlkSpec.T_IN && check) {
                q.dma().read(q.dataAddress(slot), buf, 0, bs);
                if (!java.util.Arrays.equals(buf, pattern(b, generation, bs))) {
                    if (p.wrongData++ == 0) {
                        p.firstWrong = "queue " + q.index() + ": block " + b + " read back other bytes";
                    }
                }
            }
        };
        long next = first;
        while (next < blocks || q.inFlight() > 0) {
            while (next < blocks && q.inFlight() < depth) {
                int s = q.takeSlot();
                if (s < 0) {
                    break;
                }
                blockOfSlot[s] = next;
                if (type == VirtioBlkSpec.T_OUT) {
                    byte[] data = pattern(next, generation, bs);
                    q.dma().write(q.dataAddress(s), data, 0, bs);
                }
                q.add(s, type, next * bs, bs);
                next += stride;
            }
            q.publish();
            q.await(done);
        }
    }

    /** Asserts each of queue qi's blocks completed exactly once and the others not at all. */
    static void assertEachBlockOnce(Pass[] passes, long blocks) {
        int nq = passes.length;
        for (int qi = 0; qi < nq; qi++) {
            for (long b = 0; b < blocks; b++) {
                int want = b % nq == qi ? 1 : 0;
                assertEquals(want, passes[qi].completedPerBlock[(int) b],
                        "queue " + qi + ", block " + b + ": completions (exactly one per request made)");
            }
            assertEquals(0, passes[qi].notOk, "queue " + qi + ": requests with a status other than OK");
            assertEquals(0, passes[qi].wrongData, "queue " + qi + ": " + passes[qi].firstWrong);
        }
    }
}
