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
import java.util.function.Consumer;
import net.openhft.affinity.AffinityLock;
import org.mqblock.core.loop.IOThread;
import org.mqblock.virtio.GuestBlkDriver;
import org.mqblock.virtio.GuestBlkDriver.Slot;
import org.mqblock.virtio.Vring;
import org.mqblock.virtio.VirtioBlkRig;
import org.mqblock.virtio.VirtioBlkSpec;

/**
 * Runs a {@link JobSpec} the way fio runs a job against a guest disk: builds the whole rig (guest
 * RAM, IOThreads, backend, virtio-blk, guest driver), starts one thread per vCPU that keeps
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
        int vqs = spec.virtqueues();
        int vcpusPerVq = (spec.numjobs() + vqs - 1) / vqs;
        int queueSize = Math.max(256, Integer.highestOneBit(Math.max(1, spec.iodepth() * vcpusPerVq - 1)) << 1);
        if (queueSize > Vring.MAX_QUEUE_SIZE) {
            throw new IllegalArgumentException("--iodepth: " + spec.iodepth() + " x " + vcpusPerVq
                    + " vCPUs per virtqueue needs more than " + Vring.MAX_QUEUE_SIZE + " descriptors");
        }
        VirtioBlkRig.Options o = new VirtioBlkRig.Options(spec.mode(), spec.deviceOptions(image), spec.numjobs(),
                vqs, spec.iothreadCount(), "round-robin", queueSize, spec.eventIdx(), true, spec.deferCall(),
                spec.guestPoll(), spec.pollMaxNs(), spec.pin(), spec.iodepth(), spec.bs());
        try (VirtioBlkRig rig = VirtioBlkRig.start(o)) {
            return measure(spec, rig, during);
        }
    }

    private static JobResult measure(JobSpec spec, VirtioBlkRig rig, DuringWindow during) {
        int n = spec.numjobs();
        long blockCount = spec.size() / spec.bs();
        // Verify gives each job its own blocks (like fio's offset_increment) so generations stay known.
        long perJob = spec.verify() ? blockCount / n : blockCount;
        if (spec.verify() && perJob > Integer.MAX_VALUE / 2) {
            throw new IllegalArgumentException("--size: " + spec.size() + " bytes is too many " + spec.bs()
                    + "-byte blocks per job to verify; use a larger --bs or smaller --size");
        }
        List<Worker> workers = new ArrayList<>();
        for (int j = 0; j < n; j++) {
            long base = spec.verify() ? j * perJob : 0;
            workers.add(new Worker(spec, rig.vcpu(j), j, base, perJob));
        }
        CountDownLatch ready = new CountDownLatch(n);
        CountDownLatch go = new CountDownLatch(1);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        for (Worker w : workers) {
            Thread t = new Thread(() -> {
                try {
                    w.runPinned(ready, go);
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                    ready.countDown();
                }
            }, "vcpu" + w.job);
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
            long kicks0 = rig.kicks();
            long irqs0 = rig.interrupts();
            long[] cpu0 = ProcessCpu.ticks();
            if (during != null) {
                during.run(rig, end);
            }
            sleepUntil(end);
            long kicks1 = rig.kicks();
            long irqs1 = rig.interrupts();
            long[] cpu1 = ProcessCpu.ticks();
            long stuckAfter = System.nanoTime() + STUCK_NS;
            for (Thread t : threads) {
                t.join(Math.max(1, (stuckAfter - System.nanoTime()) / 1_000_000));
                if (t.isAlive()) {
                    String what = t.getName() + " still has requests in flight " + STUCK_NS / 1_000_000_000
                            + " s after the window ended (a lost kick or completion): " + rig.vcpu(threads.indexOf(t));
                    System.err.println("mqb: " + what);
                    throw new IllegalStateException(what);
                }
            }
            if (failure.get() != null) {
                throw new IllegalStateException("a vCPU thread failed: " + failure.get(), failure.get());
            }
            DirStats read = new DirStats();
            DirStats write = new DirStats();
            List<String> failures = new ArrayList<>();
            long verified = 0;
            long failCount = 0;
            List<JobResult.ThreadPlacement> placements = new ArrayList<>();
            for (IOThread t : rig.iothreads()) {
                IOThread.Info i = t.info();
                placements.add(new JobResult.ThreadPlacement(i.id(), "iothread",
                        i.cpuRequested() == IOThread.UNPINNED ? "none" : i.cpuRequested() == IOThread.ANY_CPU ? "any"
                                : String.valueOf(i.cpuRequested()), i.cpuBound(), i.bound()));
            }
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
                    List.copyOf(placements), rig.device().isBroken());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while the job ran", e);
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
     * One vCPU thread: its driver, its blocks, its statistics. Its vCPU thread writes every field
     * (plain); the main loop reads the results (stats, verify counts, placement) only after
     * joining that thread, and writes rampEnd/end only before releasing it (see below).
     */
    private static final class Worker {
        final JobSpec spec;
        final GuestBlkDriver.Vcpu vcpu;
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
        /** --verify only: generation of each block (0: never written) and blocks in flight. */
        final long[] generation;
        final long[] busy;
        final BlockStamp stamp;
        final Consumer<Slot> onComplete = this::complete;
        final List<String> failures = new ArrayList<>();
        long failCount;
        long verified;
        long cursor;
        JobResult.ThreadPlacement placement;
        // Set by the main loop before go.countDown(); read after go.await() (happens-before).
        long rampEnd;
        long end;
        boolean checking;

        Worker(JobSpec spec, GuestBlkDriver.Vcpu vcpu, int job, long base, long blocks) {
            this.spec = spec;
            this.vcpu = vcpu;
            this.job = job;
            this.base = base;
            this.blocks = blocks;
            this.rnd = new SplittableRandom(spec.seed() * 0x9e3779b97f4a7c15L + job);
            int d = spec.iodepth();
            this.submitStart = new long[d];
            this.submitEnd = new long[d];
            this.blockOf = new long[d];
            this.wrote = new boolean[d];
            this.generation = spec.verify() ? new long[(int) blocks] : null;
            this.busy = spec.verify() ? new long[(int) ((blocks + 63) >>> 6)] : null;
            this.stamp = spec.verify() ? new BlockStamp(spec.bs()) : null;
        }

        void runPinned(CountDownLatch ready, CountDownLatch go) throws InterruptedException {
            AffinityLock lock = spec.pin() ? AffinityLock.acquireLock() : null;
            try {
                placement = new JobResult.ThreadPlacement("vcpu" + job, "vcpu", spec.pin() ? "any" : "none",
                        lock != null && lock.isBound() ? lock.cpuId() : -1, lock != null && lock.isBound());
                vcpu.bind();
                try {
                    if (spec.verify() && spec.rw().reads()) {
                        prefill();
                    }
                    ready.countDown();
                    go.await();
                    timed();
                    if (spec.verify()) {
                        readBack();
                    }
                } finally {
                    vcpu.unbind();
                }
            } finally {
                if (lock != null) {
                    lock.release();
                }
            }
        }

        /** Keeps iodepth in flight until the window ends, then drains. */
        private void timed() {
            while (true) {
                if (System.nanoTime() < end) {
                    while (vcpu.inFlight() < spec.iodepth()) {
                        boolean isWrite = rnd.nextDouble() >= spec.rw().readShare;
                        long block = nextBlock();
                        if (block < 0) {
                            break;
                        }
                        submit(vcpu.freeSlot(), isWrite, block);
                    }
                } else if (vcpu.inFlight() == 0) {
                    return;
                }
                vcpu.awaitCompletions(onComplete);
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

        private void submit(Slot s, boolean isWrite, long block) {
            int id = s.id();
            long offset = (base + block) * spec.bs();
            blockOf[id] = block;
            wrote[id] = isWrite;
            if (busy != null) {
                busy[(int) (block >>> 6)] |= 1L << block;
                if (isWrite) {
                    stamp.fill(offset, generation[(int) block] + 1, job);
                    vcpu.dma().write(s.dataAddress(), stamp.bytes(), 0, spec.bs());
                }
            }
            long t0 = System.nanoTime();
            vcpu.submit(s, isWrite ? VirtioBlkSpec.T_OUT : VirtioBlkSpec.T_IN, offset, spec.bs());
            submitStart[id] = t0;
            submitEnd[id] = System.nanoTime();
        }

        private void complete(Slot s) {
            long now = System.nanoTime();
            int id = s.id();
            boolean isWrite = wrote[id];
            long block = blockOf[id];
            boolean ok = s.status() == VirtioBlkSpec.S_OK;
            if (!ok && checking) {
                fail("vcpu" + job + ": " + (isWrite ? "write" : "read") + " of block " + (base + block)
                        + " failed with status " + s.status());
            }
            if (busy != null) {
                busy[(int) (block >>> 6)] &= ~(1L << block);
                if (ok && isWrite) {
                    generation[(int) block]++;
                } else if (ok && generation[(int) block] > 0) {
                    check(s, block);
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
            d.bytes += s.length();
            long start = submitStart[id];
            long published = submitEnd[id];
            d.slat.recordValue(Math.min(published - start, d.slat.getHighestTrackableValue()));
            d.clat.recordValue(Math.min(now - published, d.clat.getHighestTrackableValue()));
            d.lat.recordValue(Math.min(now - start, d.lat.getHighestTrackableValue()));
        }

        private void check(Slot s, long block) {
            vcpu.dma().read(s.dataAddress(), stamp.bytes(), 0, spec.bs());
            verified++;
            String wrong = stamp.check((base + block) * spec.bs(), generation[(int) block]);
            if (wrong != null) {
                fail("vcpu" + job + ": " + wrong);
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
            while (next < blocks || vcpu.inFlight() > 0) {
                while (next < blocks && vcpu.inFlight() < spec.iodepth()) {
                    long b = next++;
                    if (writing || generation[(int) b] > 0) {
                        submit(vcpu.freeSlot(), writing, b);
                    }
                }
                if (vcpu.inFlight() > 0) {
                    vcpu.awaitCompletions(onComplete);
                }
            }
            checking = false;
        }
    }
}
