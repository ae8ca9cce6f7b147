package org.mqblock.experiments.job;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import net.openhft.affinity.AffinityLock;
import org.mqblock.virtio.Vring;
import org.mqblock.virtio.VirtioBlkRig;
import org.mqblock.virtio.VirtioBlkSpec;

/**
 * Runs a {@link JobSpec} the way fio runs a job against a guest disk: builds the whole rig (guest
 * RAM, IOThreads, backend, virtio-blk, guest driver), or connects the vhost-user front-end to a
 * backend in another process ({@code --target vhost-user:PATH}), starts one thread per job that keeps
 * {@code iodepth} requests in flight on its virtqueue, throws away the ramp, measures the
 * window, drains, and (with {@code --verify}) reads every written block back.
 *
 * <p>Context: the calling thread is the main loop; it builds and closes the rig and takes the
 * window's snapshots of kicks, interrupts and CPU time while the vCPU threads run.
 */
public final class JobRunner {

    private JobRunner() {}

    /** How long after the window vCPUs may take to drain before the job counts as hung. */
    static final long STUCK_NS = TimeUnit.SECONDS.toNanos(60);

    /** This JVM: its threads' CPU (IOThreads, vCPUs, the rest) is read from /proc/self/task. */
    private static final long SELF_PID = ProcessHandle.current().pid();

    /** How many verify failures a result describes (the count is exact). */
    static final int FAILURES_KEPT = 10;

    /**
     * Work the main loop does beside a job's measured window (a live migration of guest RAM, for
     * instance). Called once, in the main loop, right after the ramp; it should return by {@code
     * endNanos} ({@link System#nanoTime()}), since the window's end snapshots wait for it.
     */
    @FunctionalInterface
    public interface DuringWindow {
        void run(VirtioBlkRig rig, long endNanos) throws InterruptedException;
    }

    public static JobResult run(JobSpec spec) {
        return run(spec, null);
    }

    /** {@link #run(JobSpec)}, calling {@code during} (if not null) beside the measured window. */
    public static JobResult run(JobSpec spec, DuringWindow during) {
        Path tmpDir = null;
        String image = spec.filename();
        try {
            if (spec.backend().needsFile && image.isEmpty()) {
                tmpDir = Files.createTempDirectory("mqb-run-");
                image = tmpDir.resolve("disk.img").toString();
            }
            return run(spec, image, during);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the temporary image: " + e.getMessage(), e);
        } finally {
            if (tmpDir != null) {
                deleteTree(tmpDir);
            }
        }
    }

    private static JobResult run(JobSpec spec, String image, DuringWindow during) {
        if (spec.isVhostUser()) {
            if (during != null) {
                throw new IllegalArgumentException("work beside the window needs the in-JVM device, not " + spec.target());
            }
            try (VhostUserTarget t = VhostUserTarget.open(spec)) {
                long capacity = t.frontend().config().capacityBytes();
                if (capacity < (long) spec.bs() * spec.numjobs()) {
                    throw new IllegalArgumentException("the backend at " + spec.vhostUserSocket() + " has " + capacity
                            + " bytes, less than --bs x --numjobs (" + (long) spec.bs() * spec.numjobs() + ")");
                }
                if (spec.size() > capacity) {
                    throw new IllegalArgumentException("--size: " + spec.size() + " bytes, but the backend at "
                            + spec.vhostUserSocket() + " has " + capacity);
                }
                JobSpec sized = spec.size() == 0 ? spec.toBuilder().size(capacity - capacity % spec.bs()).build() : spec;
                return measure(sized, t, null);
            }
        }
        int vqs = spec.virtqueues();
        int vcpusPerVq = (spec.numjobs() + vqs - 1) / vqs;
        int queueSize = Math.max(256, Integer.highestOneBit(Math.max(1, spec.iodepth() * vcpusPerVq - 1)) << 1);
        if (queueSize > Vring.MAX_QUEUE_SIZE) {
            throw new IllegalArgumentException("--iodepth: " + spec.iodepth() + " x " + vcpusPerVq
                    + " vCPUs per virtqueue needs more than " + Vring.MAX_QUEUE_SIZE + " descriptors");
        }
        VirtioBlkRig.Options o = new VirtioBlkRig.Options(spec.mode(), spec.deviceOptions(image), spec.numjobs(),
                vqs, spec.iothreadCount(), "round-robin", queueSize, spec.eventIdx(), true, spec.deferCall(),
                spec.guestPoll(), spec.pollMaxNs(), spec.pin(), spec.iodepth(), spec.bs(), spec.vcpuModel());
        try (GuestModelTarget t = new GuestModelTarget(VirtioBlkRig.start(o))) {
            return measure(spec, t, during);
        }
    }

    private static JobResult measure(JobSpec spec, JobTarget target, DuringWindow during) {
        int n = spec.numjobs();
        long blockCount = spec.size() / spec.bs();
        // Verify gives each job its own blocks (like fio's offset_increment) so generations stay known.
        long perJob = spec.verify() ? blockCount / n : blockCount;
        if (spec.verify() && perJob > Integer.MAX_VALUE / 2) {
            throw new IllegalArgumentException("--size: " + spec.size() + " bytes is too many " + spec.bs()
                    + "-byte blocks per job to verify; use a larger --bs or smaller --size");
        }
        String role = target.threadRole();
        List<Worker> workers = new ArrayList<>();
        for (int j = 0; j < n; j++) {
            long base = spec.verify() ? j * perJob : 0;
            workers.add(new Worker(spec, target.queue(j), role, j, base, perJob));
        }
        CountDownLatch ready = new CountDownLatch(n);
        CountDownLatch go = new CountDownLatch(1);
        // The job threads live until the window's end snapshots read their CPU in /proc.
        CountDownLatch snapped = new CountDownLatch(1);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        for (Worker w : workers) {
            Thread t = new Thread(() -> {
                try {
                    w.runPinned(ready, go, snapped);
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                    ready.countDown();
                }
            }, role + w.job);
            t.setDaemon(true); // a hung vCPU must not keep the JVM alive after the job failed
            threads.add(t);
            t.start();
        }
        try {
            ready.await();
            long start = System.nanoTime();
            long rampEnd = start + TimeUnit.MILLISECONDS.toNanos(spec.rampMs());
            long end = rampEnd + TimeUnit.MILLISECONDS.toNanos(spec.runtimeMs());
            for (Worker w : workers) {
                w.rampEnd = rampEnd;
                w.end = end;
            }
            go.countDown(); // happens-before: the workers see rampEnd and end
            sleepUntil(rampEnd);
            long kicks0 = target.kicks();
            long irqs0 = target.interrupts();
            long[] cpu0 = ProcessCpu.ticks();
            BackendCpu.Snapshot self0 = BackendCpu.snapshot(SELF_PID);
            long backendPid = target.backendPid();
            BackendCpu.Snapshot peer0 = backendPid > 0 ? BackendCpu.snapshot(backendPid) : null;
            if (during != null) {
                during.run(target.rig(), end);
            }
            sleepUntil(end);
            long kicks1 = target.kicks();
            long irqs1 = target.interrupts();
            long[] cpu1 = ProcessCpu.ticks();
            BackendCpu.Snapshot self1 = BackendCpu.snapshot(SELF_PID);
            snapped.countDown();
            BackendCpu.Snapshot peer1 = backendPid > 0 ? BackendCpu.snapshot(backendPid) : null;
            long stuckAfter = System.nanoTime() + STUCK_NS;
            for (Thread t : threads) {
                t.join(Math.max(1, (stuckAfter - System.nanoTime()) / 1_000_000));
                if (t.isAlive()) {
                    String what = t.getName() + " still has requests in flight " + STUCK_NS / 1_000_000_000
                            + " s after the window ended (a lost kick or completion): "
                            + workers.get(threads.indexOf(t)).queue.describe();
                    System.err.println("mqb: " + what);
                    throw new IllegalStateException(what);
                }
            }
            if (failure.get() != null) {
                throw new IllegalStateException("a " + role + " thread failed: " + failure.get(), failure.get());
            }
            DirStats read = new DirStats();
            DirStats write = new DirStats();
            List<String> failures = new ArrayList<>();
            long verified = 0;
            long failCount = 0;
            List<JobResult.ThreadPlacement> placements = new ArrayList<>(target.deviceThreads());
            for (Worker w : workers) {
                read.add(w.read);
                write.add(w.write);
                verified += w.verified;
                failCount += w.failCount;
                for (String f : w.failures) {
                    if (failures.size() < FAILURES_KEPT) {
                        failures.add(f);
                    }
                }
                placements.add(w.placement);
            }
            long window = end - rampEnd;
            double seconds = window / 1e9;
            return new JobResult(spec, read, write, window,
                    ProcessCpu.percent(cpu1[0] - cpu0[0], seconds), ProcessCpu.percent(cpu1[1] - cpu0[1], seconds),
                    kicks1 - kicks0, irqs1 - irqs0, verified, Collections.unmodifiableList(failures), failCount,
                    List.copyOf(placements), target.broken(),
                    peer0 == null ? null : BackendCpu.between(backendPid, peer0, peer1),
                    BackendCpu.between(SELF_PID, self0, self1, true));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while the job ran", e);
        } finally {
            snapped.countDown(); // a window that failed must not keep its job threads waiting
        }
    }

    private static void sleepUntil(long deadline) throws InterruptedException {
        for (long left; (left = deadline - System.nanoTime()) > 0; ) {
            TimeUnit.NANOSECONDS.sleep(Math.min(left, 50_000_000L));
        }
    }

    private static void deleteTree(Path dir) {
        try (var s = Files.walk(dir)) {
            s.sorted(Collections.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            System.err.println("mqb: could not remove " + dir + ": " + e.getMessage());
        }
    }

    /**
     * One job thread (a vCPU of the guest model, or a front-end submitter): its queue, its blocks,
     * its statistics. Its thread writes every field (plain); the main loop reads the results
     * (stats, verify counts, placement) only after joining that thread, and writes rampEnd/end
     * only before releasing it (see below).
     */
    private static final class Worker {
        final JobSpec spec;
        final JobQueue queue;
        final String role;
        final int job;
        final long base;
        final long blocks;
        final SplittableRandom rnd;
        final DirStats read = new DirStats();
        final DirStats write = new DirStats();
        /** Per slot id: when its submission began and ended, its block, and whether it wrote. */
        final long[] submitStart;
        final long[] submitEnd;
        final long[] blockOf;
        final boolean[] wrote;
        /** Slots added since the last publish, whose submission ends with it. */
        final int[] batch;
        int batched;
        /** The queue publishes (and kicks) in add already: a request's submission ends there. */
        final boolean publishesOnAdd;
        /** --verify only: generation of each block (0: never written) and blocks in flight. */
        final long[] generation;
        final long[] busy;
        final BlockStamp stamp;
        final JobQueue.Completion onComplete = this::complete;
        final List<String> failures = new ArrayList<>();
        long failCount;
        long verified;
        long cursor;
        JobResult.ThreadPlacement placement;
        // Set by the main loop before go.countDown(); read after go.await() (happens-before).
        long rampEnd;
        long end;
        boolean checking;

        Worker(JobSpec spec, JobQueue queue, String role, int job, long base, long blocks) {
            this.spec = spec;
            this.queue = queue;
            this.role = role;
            this.job = job;
            this.base = base;
            this.blocks = blocks;
            this.rnd = new SplittableRandom(spec.seed() * 0x9e3779b97f4a7c15L + job);
            int d = spec.iodepth();
            this.submitStart = new long[d];
            this.submitEnd = new long[d];
            this.blockOf = new long[d];
            this.wrote = new boolean[d];
            this.batch = new int[d];
            this.publishesOnAdd = queue.publishesOnAdd();
            this.generation = spec.verify() ? new long[(int) blocks] : null;
            this.busy = spec.verify() ? new long[(int) ((blocks + 63) >>> 6)] : null;
            this.stamp = spec.verify() ? new BlockStamp(spec.bs()) : null;
        }

        void runPinned(CountDownLatch ready, CountDownLatch go, CountDownLatch snapped) throws InterruptedException {
            AffinityLock lock = spec.pin() ? AffinityLock.acquireLock() : null;
            try {
                placement = new JobResult.ThreadPlacement(role + job, role, spec.pin() ? "any" : "none",
                        lock != null && lock.isBound() ? lock.cpuId() : -1, lock != null && lock.isBound());
                // Bound only while it does I/O: a vCPU that waits for the others leaves, so its
                // queue's interrupt goes to one still there (a shared virtqueue in the sq modes).
                if (spec.verify() && spec.rw().reads()) {
                    inDriver(this::prefill);
                }
                ready.countDown();
                go.await();
                inDriver(this::timed);
                snapped.await();
                if (spec.verify()) {
                    inDriver(this::readBack);
                }
            } finally {
                if (lock != null) {
                    lock.release();
                }
            }
        }

        private void inDriver(Runnable phase) {
            queue.bind();
            try {
                phase.run();
            } finally {
                queue.unbind();
            }
        }

        /**
         * Keeps iodepth in flight until the window ends, then drains. The requests added in one
         * refill are published together, as a guest's block layer does with a plugged batch (Linux's
         * virtio_blk kicks once per batch, at {@code bd->last}).
         */
        private void timed() {
            while (true) {
                if (System.nanoTime() < end) {
                    while (queue.inFlight() < spec.iodepth()) {
                        boolean isWrite = rnd.nextDouble() >= spec.rw().readShare;
                        long block = nextBlock();
                        if (block < 0) {
                            break;
                        }
                        submit(queue.takeSlot(), isWrite, block);
                    }
                    publish();
                } else if (queue.inFlight() == 0) {
                    return;
                }
                queue.await(onComplete);
            }
        }

        private long nextBlock() {
            long b = spec.rw().random ? rnd.nextLong(blocks) : cursor++ % blocks;
            if (busy == null) {
                return b;
            }
            for (long i = 0; i < blocks; i++) { // verify: never two requests on one block at once
                long c = (b + i) % blocks;
                if ((busy[(int) (c >>> 6)] & (1L << c)) == 0) {
                    return c;
                }
            }
            return -1;
        }

        private void submit(int id, boolean isWrite, long block) {
            long offset = (base + block) * spec.bs();
            blockOf[id] = block;
            wrote[id] = isWrite;
            if (busy != null) {
                busy[(int) (block >>> 6)] |= 1L << block;
                if (isWrite) {
                    stamp.fill(offset, generation[(int) block] + 1, job);
                    queue.writeData(id, stamp.bytes(), spec.bs());
                }
            }
            submitStart[id] = System.nanoTime();
            queue.add(id, isWrite ? VirtioBlkSpec.T_OUT : VirtioBlkSpec.T_IN, offset, spec.bs());
            if (publishesOnAdd) {
                submitEnd[id] = System.nanoTime();
            } else {
                batch[batched++] = id;
            }
        }

        /** Publishes the batch; its requests' submission ends now. */
        private void publish() {
            if (batched == 0) {
                return;
            }
            queue.publish();
            long now = System.nanoTime();
            for (int i = 0; i < batched; i++) {
                submitEnd[batch[i]] = now;
            }
            batched = 0;
        }

        private void complete(int id, int status) {
            long now = System.nanoTime();
            boolean isWrite = wrote[id];
            long block = blockOf[id];
            boolean ok = status == VirtioBlkSpec.S_OK;
            if (!ok && checking) {
                fail(role + job + ": " + (isWrite ? "write" : "read") + " of block " + (base + block)
                        + " failed with status " + status);
            }
            if (busy != null) {
                busy[(int) (block >>> 6)] &= ~(1L << block);
                if (ok && isWrite) {
                    generation[(int) block]++;
                } else if (ok && generation[(int) block] > 0) {
                    check(id, block);
                }
            }
            if (checking || now < rampEnd || submitStart[id] >= end) {
                return; // prefill, ramp or drain: not measured
            }
            DirStats d = isWrite ? write : read;
            if (!ok) {
                d.errors++;
            }
            d.ios++;
            d.bytes += spec.bs();
            long start = submitStart[id];
            long published = submitEnd[id];
            d.slat.recordValue(Math.min(published - start, d.slat.getHighestTrackableValue()));
            d.clat.recordValue(Math.min(now - published, d.clat.getHighestTrackableValue()));
            d.lat.recordValue(Math.min(now - start, d.lat.getHighestTrackableValue()));
        }

        private void check(int id, long block) {
            queue.readData(id, stamp.bytes(), spec.bs());
            verified++;
            String wrong = stamp.check((base + block) * spec.bs(), generation[(int) block]);
            if (wrong != null) {
                fail(role + job + ": " + wrong);
            }
        }

        private void fail(String what) {
            failCount++;
            if (failures.size() < FAILURES_KEPT) {
                failures.add(what);
            }
        }

        /** Writes generation 1 into every block of this job, so that reads have something to check. */
        private void prefill() {
            sweep(true);
        }

        /** Reads back every block this job wrote and checks it. */
        private void readBack() {
            sweep(false);
        }

        private void sweep(boolean writing) {
            checking = true;
            long next = 0;
            while (next < blocks || queue.inFlight() > 0) {
                while (next < blocks && queue.inFlight() < spec.iodepth()) {
                    long b = next++;
                    if (writing || generation[(int) b] > 0) {
                        submit(queue.takeSlot(), writing, b);
                    }
                }
                publish();
                if (queue.inFlight() > 0) {
                    queue.await(onComplete);
                }
            }
            checking = false;
        }
    }
}
