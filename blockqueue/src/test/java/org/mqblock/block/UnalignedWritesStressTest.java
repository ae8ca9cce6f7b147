package org.mqblock.block;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.IOThread;

/**
 * Overlapping unaligned writes from several queues on several IOThreads, checked byte for byte
 * against a model. The first half of the device is cut into 64-byte stripes dealt round-robin to
 * the writers, so every 512-byte block is shared by all of them and every write is a
 * read-modify-write of a block others write too; the second half holds whole blocks per writer,
 * written aligned, so the fast path and the tracker meet. Nobody writes another's bytes, so each
 * byte's final value is its owner's last write, and a read of one's own bytes (with no write of
 * them outstanding) must always see exactly that: without serialisation a read-modify-write
 * writes back a neighbour's stale bytes and the check fails.
 */
class UnalignedWritesStressTest {

    private static final int WRITERS = 4;
    private static final int STRIPE = 64;
    private static final int BLOCK = 512;
    private static final int HALF = 32 << 10;
    private static final int SIZE = 2 * HALF;
    private static final int OPS = 1500;
    private static final int DEPTH = 4;

    @TempDir
    Path dir;

    @RepeatedTest(3)
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void overlappingUnalignedWritesFromManyQueuesMatchTheModel() throws Exception {
        List<IOThread> threads = List.of(IOThread.start("rmw-io0", IOThread.UNPINNED),
                IOThread.start("rmw-io1", IOThread.UNPINNED), IOThread.start("rmw-io2", IOThread.UNPINNED));
        List<AioContext> contexts = threads.stream().map(IOThread::context).toList();
        byte[][] models = new byte[WRITERS][SIZE];
        try {
            BlockBackend dev = BlockBackend.open("rmw", "driver=file,filename=" + dir.resolve("rmw.raw") + ",size="
                    + SIZE + ",queues=" + WRITERS, contexts);
            try (dev) {
                Workers workers = new Workers();
                for (int w = 0; w < WRITERS; w++) {
                    int id = w;
                    QueueSubmitter s = dev.newSubmitter(w, DEPTH);
                    workers.start("writer-" + w, () -> new Writer(id, s, models[id]).run());
                }
                workers.join(Duration.ofSeconds(100));
                ByteBuffer all = ByteBuffer.allocateDirect(SIZE);
                assertEquals(BlockStatus.OK, TestIo.read(dev.queue(0), 0, all));
                for (int i = 0; i < SIZE; i++) {
                    assertEquals(models[owner(i)][i], all.get(i), "byte " + i + " (owner " + owner(i) + ")");
                }
                assertEquals(0, dev.node().tracker().size(), "nothing left tracked");
            }
        } finally {
            threads.forEach(IOThread::close);
        }
    }

    static int owner(int offset) {
        return offset < HALF ? (offset / STRIPE) % WRITERS : ((offset - HALF) / BLOCK) % WRITERS;
    }

    /** One submitting thread: random writes and reads of its own bytes, at most DEPTH outstanding. */
    private static final class Writer {
        private final int id;
        private final QueueSubmitter s;
        private final byte[] model;
        private final SplittableRandom random;
        private final List<Slot> free = new ArrayList<>();
        /** Regions with a request outstanding: [start, end) per slot in use. */
        private final List<Slot> busy = new ArrayList<>();
        private int seq;

        Writer(int id, QueueSubmitter s, byte[] model) {
            this.id = id;
            this.s = s;
            this.model = model;
            this.random = new SplittableRandom(1234 + id);
            for (int i = 0; i < DEPTH; i++) {
                free.add(new Slot());
            }
        }

        void run() {
            int submitted = 0;
            while (submitted < OPS || !busy.isEmpty()) {
                while (submitted < OPS && !free.isEmpty()) {
                    Slot slot = free.remove(free.size() - 1);
                    if (!prepare(slot)) {
                        free.add(slot);
                        break;
                    }
                    busy.add(slot);
                    if (!s.submit(slot.request)) {
                        throw new AssertionError("submitter refused with " + s.outstanding() + " outstanding");
                    }
                    submitted++;
                }
                s.awaitCompletions(this::completed, DEPTH);
            }
        }

        /** Picks a region of its own no outstanding request touches; false if none was found quickly. */
        private boolean prepare(Slot slot) {
            for (int attempt = 0; attempt < 8; attempt++) {
                int start;
                int len;
                if (random.nextInt(5) == 0) { // a whole block of its own, aligned: the fast path
                    int block = random.nextInt(HALF / BLOCK / WRITERS) * WRITERS + id;
                    start = HALF + block * BLOCK;
                    len = BLOCK;
                } else {
                    int stripe = random.nextInt(HALF / STRIPE / WRITERS) * WRITERS + id;
                    int a = random.nextInt(STRIPE);
                    int b = random.nextInt(a + 1, STRIPE + 1);
                    start = stripe * STRIPE + a;
                    len = b - a;
                }
                if (overlapsBusy(start, start + len)) {
                    continue;
                }
                slot.start = start;
                slot.len = len;
                slot.read = random.nextInt(4) == 0;
                ByteBuffer buf = slot.buffer.clear().limit(len);
                if (!slot.read) {
                    seq++;
                    for (int i = 0; i < len; i++) {
                        buf.put(i, (byte) (id * 64 + seq * 7 + i));
                    }
                }
                slot.iov.clear().add(buf);
                if (slot.read) {
                    slot.request.read(start, slot.iov, r -> {});
                } else {
                    slot.request.write(start, slot.iov, r -> {});
                }
                return true;
            }
            return false;
        }

        private boolean overlapsBusy(int start, int end) {
            for (Slot b : busy) {
                if (b.start < end && start < b.start + b.len) {
                    return true;
                }
            }
            return false;
        }

        private void completed(BlockRequest r) {
            Slot slot = null;
            for (Slot b : busy) {
                if (b.request == r) {
                    slot = b;
                }
            }
            busy.remove(slot);
            free.add(slot);
            assertEquals(BlockStatus.OK, r.status(), "writer " + id + ": " + r);
            for (int i = 0; i < slot.len; i++) {
                if (slot.read) {
                    assertEquals(model[slot.start + i], slot.buffer.get(i),
                            "writer " + id + " read its own byte " + (slot.start + i));
                } else {
                    model[slot.start + i] = slot.buffer.get(i);
                }
            }
        }
    }

    private static final class Slot {
        final BlockRequest request = new BlockRequest();
        final IoVector iov = new IoVector(1);
        final ByteBuffer buffer = ByteBuffer.allocateDirect(BLOCK);
        int start;
        int len;
        boolean read;
    }
}
