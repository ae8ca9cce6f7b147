package org.mqblock.block;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32C;

/**
 * fio-verify style load: worker threads, each with a {@link QueueSubmitter}, read and write 4 KiB
 * blocks and check every read. A written block carries its offset, a generation and a CRC32C of
 * its payload; each block belongs to one worker, which keeps one request per block in flight and
 * remembers the generation it last wrote, so every read has exactly one right answer.
 *
 * <p>Counted: requests submitted and completed, completions of a request not in flight (a
 * duplicate), reads that do not verify, error statuses. Nothing may be lost: at the end submitted
 * equals completed.
 */
final class VerifyWorkload {

    static final int BLOCK = 4096;
    private static final long ZEROED = -1; // written zeroes
    private static final long UNKNOWN = -2; // discarded: the driver may or may not have kept the data

    final AtomicLong submitted = new AtomicLong();
    final AtomicLong completed = new AtomicLong();
    final AtomicLong duplicates = new AtomicLong();
    final AtomicLong verifyFailures = new AtomicLong();
    final AtomicLong errors = new AtomicLong();
    final AtomicLong reads = new AtomicLong();
    final AtomicLong writes = new AtomicLong();
    volatile String firstFailure;

    private final BlockDriverState dev;
    private final int workerCount;
    private final int depth;
    private final int blocks;
    private final long seed;
    /** Generation last written per block; each entry written only by the block's worker. */
    final long[] generations;
    private volatile boolean running = true;
    private final Workers workers = new Workers();

    VerifyWorkload(BlockDriverState dev, int workerCount, int depth, long workBytes, long seed) {
        this.dev = dev;
        this.workerCount = workerCount;
        this.depth = depth;
        this.blocks = (int) (workBytes / BLOCK);
        this.seed = seed;
        this.generations = new long[blocks];
    }

    VerifyWorkload start() {
        for (int w = 0; w < workerCount; w++) {
            final int id = w;
            QueueSubmitter s = dev.newSubmitter(w % dev.queueCount(), depth);
            workers.start("verify-" + w, () -> new Worker(id, s).run());
        }
        return this;
    }

    /**
     * Stops submitting, waits for every outstanding request, rethrows a worker's failure; fails
     * naming the counts if a worker still waits a minute later (a lost completion).
     */
    void stop() throws InterruptedException {
        running = false;
        try {
            workers.join(Duration.ofSeconds(60));
        } catch (AssertionError e) {
            throw new AssertionError(submitted.get() + " submitted, " + completed.get() + " completed: " + e.getMessage(), e);
        }
    }

    /**
     * What has gone wrong so far (a failed worker, a duplicate, an error status, a read that did
     * not verify), or null: checked after every graph operation, so a failure names the operation
     * it followed. Context: any thread.
     */
    String problem() {
        Throwable crash = workers.failure();
        if (crash != null) {
            return "a worker failed: " + crash;
        }
        if (duplicates.get() != 0) {
            return duplicates.get() + " completion(s) of requests not in flight";
        }
        if (errors.get() != 0 || verifyFailures.get() != 0) {
            return errors.get() + " error status(es), " + verifyFailures.get() + " failure(s); first: " + firstFailure;
        }
        return null;
    }

    private void fail(String what) {
        verifyFailures.incrementAndGet();
        if (firstFailure == null) {
            firstFailure = what;
        }
    }

    /** Fills {@code buf} (absolute) with block {@code block}'s content for generation {@code gen}. */
    static void fill(ByteBuffer buf, int block, long gen) {
        SplittableRandom r = new SplittableRandom(block * 1_000_003L + gen);
        for (int i = 24; i < BLOCK; i += 8) {
            buf.putLong(i, r.nextLong());
        }
        buf.putLong(0, (long) block * BLOCK);
        buf.putLong(8, gen);
        buf.putLong(16, crc(buf));
    }

    private static long crc(ByteBuffer buf) {
        CRC32C c = new CRC32C();
        c.update(buf.duplicate().position(24).limit(BLOCK));
        return c.getValue();
    }

    /** Why {@code buf} is not block {@code block} at generation {@code gen}, or null if it is. */
    static String check(ByteBuffer buf, int block, long gen) {
        if (gen == UNKNOWN) {
            return null;
        }
        if (gen == 0 || gen == ZEROED) {
            for (int i = 0; i < BLOCK; i += 8) {
                if (buf.getLong(i) != 0) {
                    return "block " + block + ": expected zeros, found data at byte " + i
                            + " (offset field " + buf.getLong(0) + ", generation " + buf.getLong(8) + ")";
                }
            }
            return null;
        }
        long offset = buf.getLong(0);
        long found = buf.getLong(8);
        if (offset != (long) block * BLOCK) {
            return "block " + block + ": offset field " + offset + " (misplaced write)";
        }
        if (found != gen) {
            return "block " + block + ": generation " + found + ", expected " + gen + " (lost or stale write)";
        }
        if (buf.getLong(16) != crc(buf)) {
            return "block " + block + ": checksum mismatch (torn write)";
        }
        return null;
    }

    private final class Worker {
        private final int id;
        private final QueueSubmitter submitter;
        private final SplittableRandom random;
        private final ArrayDeque<Slot> free = new ArrayDeque<>();
        private final boolean[] busy = new boolean[blocks];
        private final Set<Long> inFlight = new HashSet<>();
        private long nextSeq;
        private long nextGen;

        Worker(int id, QueueSubmitter submitter) {
            this.id = id;
            this.submitter = submitter;
            this.random = new SplittableRandom(seed * 17 + id);
            for (int i = 0; i < depth; i++) {
                free.add(new Slot());
            }
        }

        void run() {
            try {
                while (running || submitter.outstanding() > 0) {
                    if (running) {
                        fillSlots();
                    }
                    submitter.kick();
                    submitter.awaitCompletions(this::completed, depth);
                }
            } finally {
                submitter.close();
            }
        }

        private void fillSlots() {
            while (!free.isEmpty()) {
                int block = pickBlock();
                if (block < 0) {
                    return;
                }
                Slot slot = free.poll();
                slot.block = block;
                slot.seq = nextSeq++;
                BlockRequest r = slot.request;
                long offset = (long) block * BLOCK;
                int dice = random.nextInt(100);
                if (dice < 45) {
                    slot.gen = ++nextGen;
                    fill(slot.buf, block, slot.gen);
                    r.write(offset, slot.iov, submitter);
                } else if (dice < 92) {
                    slot.buf.putLong(0, 0x5a5a5a5aL); // not a leftover match
                    r.read(offset, slot.iov, submitter);
                } else if (dice < 95) {
                    r.flush(submitter);
                    slot.block = -1;
                } else if (dice < 98) {
                    r.writeZeroes(offset, BLOCK, submitter);
                } else {
                    r.discard(offset, BLOCK, submitter);
                }
                r.tag = slot.seq;
                if (slot.block >= 0) {
                    busy[block] = true;
                }
                inFlight.add(slot.seq);
                if (!submitter.offer(r)) {
                    throw new AssertionError("submitter refused a request within its depth");
                }
                submitted.incrementAndGet();
            }
        }

        /** A random block of this worker's with nothing in flight, or -1. */
        private int pickBlock() {
            int owned = (blocks - id + workerCount - 1) / workerCount;
            for (int tries = 0; tries < 8; tries++) {
                int block = random.nextInt(owned) * workerCount + id;
                if (block < blocks && !busy[block]) {
                    return block;
                }
            }
            return -1;
        }

        private void completed(BlockRequest r) {
            completed.incrementAndGet();
            Slot slot = slotOf(r);
            if (!inFlight.remove(r.tag)) {
                duplicates.incrementAndGet();
                return;
            }
            if (slot.block >= 0) {
                busy[slot.block] = false;
            }
            if (r.status() != BlockStatus.OK) {
                errors.incrementAndGet();
                fail("status " + BlockStatus.name(r.status()) + " for " + r);
            } else {
                switch (r.op()) {
                    case WRITE -> {
                        generations[slot.block] = slot.gen;
                        writes.incrementAndGet();
                    }
                    case READ -> {
                        reads.incrementAndGet();
                        String bad = check(slot.buf, slot.block, generations[slot.block]);
                        if (bad != null) {
                            fail(bad);
                        }
                    }
                    case WRITE_ZEROES -> generations[slot.block] = ZEROED;
                    case DISCARD -> generations[slot.block] = UNKNOWN;
                    case FLUSH -> { }
                }
            }
            free.add(slot);
        }

        private Slot slotOf(BlockRequest r) {
            return ((SlotRequest) r).slot;
        }
    }

    private static final class SlotRequest extends BlockRequest {
        Slot slot;
    }

    private static final class Slot {
        final ByteBuffer buf = ByteBuffer.allocateDirect(BLOCK);
        final IoVector iov = IoVector.of(buf);
        final SlotRequest request = new SlotRequest();
        int block;
        long seq;
        long gen;

        Slot() {
            request.slot = this;
        }
    }

    /** Reads every block through a fresh submitter and checks it against the final generations. */
    static long verifyAll(BlockDriverState dev, long[] generations) throws InterruptedException {
        QueueSubmitter s = dev.newSubmitter(0, 16);
        ByteBuffer[] bufs = new ByteBuffer[16];
        BlockRequest[] reqs = new BlockRequest[16];
        ArrayDeque<Integer> freeSlots = new ArrayDeque<>();
        for (int i = 0; i < 16; i++) {
            bufs[i] = ByteBuffer.allocateDirect(BLOCK);
            reqs[i] = new BlockRequest();
            freeSlots.add(i);
        }
        long[] bad = new long[1];
        long[] checked = new long[1];
        String[] first = new String[1];
        int next = 0;
        while (next < generations.length || s.outstanding() > 0) {
            while (next < generations.length && !freeSlots.isEmpty()) {
                int slot = freeSlots.poll();
                reqs[slot].read((long) next * BLOCK, IoVector.of(bufs[slot]), s);
                reqs[slot].tag = ((long) next << 8) | slot;
                if (!s.offer(reqs[slot])) {
                    throw new AssertionError("submitter refused a request within its depth");
                }
                next++;
            }
            s.kick();
            s.awaitCompletions(r -> {
                int slot = (int) (r.tag & 0xff);
                int block = (int) (r.tag >>> 8);
                checked[0]++;
                String why = r.status() != BlockStatus.OK ? "block " + block + ": " + BlockStatus.name(r.status())
                        : check(bufs[slot], block, generations[block]);
                if (why != null) {
                    bad[0]++;
                    if (first[0] == null) {
                        first[0] = why;
                    }
                }
                freeSlots.add(slot);
            }, 16);
        }
        s.close();
        if (bad[0] > 0) {
            throw new AssertionError(bad[0] + " blocks failed the final verification; first: " + first[0]);
        }
        if (checked[0] != generations.length || s.outstanding() != 0) {
            throw new AssertionError("the final verification checked " + checked[0] + " reads of " + generations.length
                    + " blocks, " + s.outstanding() + " outstanding: a completion lost or delivered twice");
        }
        return Arrays.stream(generations).filter(g -> g > 0).count();
    }
}
