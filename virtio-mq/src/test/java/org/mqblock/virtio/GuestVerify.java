package org.mqblock.virtio;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.zip.CRC32C;
import org.mqblock.memory.Dma;

/**
 * fio-verify style load through the guest driver: each vCPU thread owns the blocks {@code b} with
 * {@code b mod vcpus == vcpu}, keeps its slots busy with random 4 KiB reads and writes, fills
 * each write with the block's offset, a generation and a CRC32C, and checks every read against
 * the generation it last wrote. Counts what must stay zero.
 *
 * <p>Each vCPU also keeps its own record of which slots it has in flight, apart from the guest
 * driver's: a completion of a slot it did not submit (a used head returned twice) fails at once,
 * and at the end nothing may be left in flight and every request must have completed once.
 */
final class GuestVerify {

    static final int BLOCK = 4096;

    final AtomicLong submitted = new AtomicLong();
    final AtomicLong completed = new AtomicLong();
    final AtomicLong failures = new AtomicLong();
    final AtomicLong writes = new AtomicLong();
    final AtomicLong reads = new AtomicLong();
    final AtomicReference<String> firstFailure = new AtomicReference<>();
    final AtomicReference<Throwable> crash = new AtomicReference<>();

    private final VirtioBlkRig rig;
    private final int blocks;
    private final long perVcpu;

    GuestVerify(VirtioBlkRig rig, long workBytes, long requestsPerVcpu) {
        this.rig = rig;
        this.blocks = (int) (workBytes / BLOCK);
        this.perVcpu = requestsPerVcpu;
    }

    /**
     * Runs every vCPU to completion in its own thread; rethrows a crash, and fails naming the
     * vCPUs still waiting two minutes later (a used head never returned).
     */
    GuestVerify run() throws InterruptedException {
        int n = rig.options().vcpus();
        List<Thread> threads = new ArrayList<>();
        for (int v = 0; v < n; v++) {
            final int id = v;
            threads.add(new Thread(() -> {
                try {
                    new VcpuJob(id, n).run();
                } catch (Throwable t) {
                    crash.compareAndSet(null, t);
                }
            }, "vcpu" + v));
        }
        threads.forEach(t -> {
            t.setDaemon(true); // one stuck on a lost completion must not keep the test JVM alive
            t.start();
        });
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
        for (Thread t : threads) {
            t.join(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
        }
        if (crash.get() != null) {
            throw new AssertionError("a vCPU crashed", crash.get());
        }
        List<String> stuck = new ArrayList<>();
        for (int v = 0; v < n; v++) {
            if (threads.get(v).isAlive()) {
                stuck.add(rig.vcpu(v).toString());
            }
        }
        if (!stuck.isEmpty()) {
            throw new AssertionError(submitted.get() + " submitted, " + completed.get()
                    + " completed; still waiting after 2 minutes (a lost completion): " + stuck);
        }
        return this;
    }

    private void fail(String why) {
        failures.incrementAndGet();
        firstFailure.compareAndSet(null, why);
    }

    static void fill(ByteBuffer buf, int block, long gen) {
        SplittableRandom r = new SplittableRandom(block * 7_919L + gen);
        for (int i = 24; i < BLOCK; i += 8) {
            buf.putLong(i, r.nextLong());
        }
        buf.putLong(0, (long) block * BLOCK);
        buf.putLong(8, gen);
        CRC32C c = new CRC32C();
        c.update(buf.duplicate().position(24).limit(BLOCK));
        buf.putLong(16, c.getValue());
    }

    static String check(ByteBuffer buf, int block, long gen) {
        if (gen == 0) {
            for (int i = 0; i < BLOCK; i += 8) {
                if (buf.getLong(i) != 0) {
                    return "block " + block + ": never written but not zero";
                }
            }
            return null;
        }
        if (buf.getLong(0) != (long) block * BLOCK) {
            return "block " + block + ": offset field " + buf.getLong(0);
        }
        if (buf.getLong(8) != gen) {
            return "block " + block + ": generation " + buf.getLong(8) + ", expected " + gen;
        }
        CRC32C c = new CRC32C();
        c.update(buf.duplicate().position(24).limit(BLOCK));
        return buf.getLong(16) == c.getValue() ? null : "block " + block + ": checksum mismatch";
    }

    private final class VcpuJob {
        private final int id;
        private final int vcpus;
        private final GuestBlkDriver.Vcpu vcpu;
        private final Dma dma;
        private final SplittableRandom random;
        private final long[] generation;
        private final boolean[] busy;
        /** Per slot id: whether this job submitted it and has not seen it complete. */
        private final boolean[] slotInFlight;
        private final ByteBuffer buf = ByteBuffer.allocate(BLOCK);
        private long nextGen;
        private long issued;
        private long done;

        VcpuJob(int id, int vcpus) {
            this.id = id;
            this.vcpus = vcpus;
            this.vcpu = rig.vcpu(id);
            this.dma = vcpu.dma();
            this.random = new SplittableRandom(1000 + id);
            this.generation = new long[blocks];
            this.busy = new boolean[blocks];
            this.slotInFlight = new boolean[rig.options().slots()];
        }

        void run() {
            vcpu.bind();
            try {
                while (issued < perVcpu || vcpu.inFlight() > 0) {
                    GuestBlkDriver.Slot s;
                    while (issued < perVcpu && (s = vcpu.freeSlot()) != null) {
                        start(s);
                    }
                    vcpu.awaitCompletions(this::done);
                }
            } finally {
                vcpu.unbind();
            }
            for (int i = 0; i < slotInFlight.length; i++) {
                if (slotInFlight[i]) {
                    throw new AssertionError("vcpu " + id + ": slot " + i + " still in flight after the driver said none was");
                }
            }
            if (done != issued) {
                throw new AssertionError("vcpu " + id + ": " + issued + " requests issued, " + done + " completed");
            }
        }

        private void start(GuestBlkDriver.Slot s) {
            int block;
            do {
                block = random.nextInt((blocks - id + vcpus - 1) / vcpus) * vcpus + id;
            } while (block >= blocks || busy[block]);
            busy[block] = true;
            s.tag = block;
            slotInFlight[s.id()] = true;
            issued++;
            submitted.incrementAndGet();
            if (random.nextBoolean()) {
                long gen = ++nextGen;
                fill(buf, block, gen);
                dma.write(s.dataAddress(), buf, 0, BLOCK);
                s.tag = ((long) block << 32) | gen;
                vcpu.submit(s, VirtioBlkSpec.T_OUT, (long) block * BLOCK, BLOCK);
            } else {
                s.tag = (long) block << 32;
                vcpu.submit(s, VirtioBlkSpec.T_IN, (long) block * BLOCK, BLOCK);
            }
        }

        private void done(GuestBlkDriver.Slot s) {
            completed.incrementAndGet();
            done++;
            if (!slotInFlight[s.id()]) {
                throw new AssertionError("vcpu " + id + ": slot " + s.id() + " completed twice");
            }
            slotInFlight[s.id()] = false;
            int block = (int) (s.tag >>> 32);
            busy[block] = false;
            if (s.status() != VirtioBlkSpec.S_OK) {
                fail("vcpu " + id + ": status " + s.status() + " for block " + block);
                return;
            }
            if (s.type() == VirtioBlkSpec.T_OUT) {
                generation[block] = s.tag & 0xffffffffL;
                writes.incrementAndGet();
            } else {
                reads.incrementAndGet();
                dma.read(s.dataAddress(), buf, 0, BLOCK);
                String bad = check(buf, block, generation[block]);
                if (bad != null) {
                    fail("vcpu " + id + ": " + bad);
                }
            }
        }
    }
}
