package org.mqblock.experiments.figures;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.BottomHalf;
import org.mqblock.core.loop.IOThread;
import org.mqblock.memory.AddressSpace;
import org.mqblock.memory.DispatchPolicy;
import org.mqblock.memory.Dma;
import org.mqblock.memory.MemoryAccessException;
import org.mqblock.memory.MmioOps;
import org.mqblock.memory.MmioRegion;
import org.mqblock.memory.ReentrancyGuard;

/**
 * F6: two devices, each in its own IOThread, DMA into each other's registers for a fixed time,
 * under {@link DispatchPolicy#RELEASE_REACQUIRE} and under {@link DispatchPolicy#NESTED}. A run
 * watches the JVM's deadlock detector; a deadlock it finds is broken by interrupting one device's
 * thread (a NESTED wait is interruptible), so the sweep goes on with no thread left stuck.
 */
final class F6RecursiveDispatch implements Figure {

    private static final ThreadMXBean MX = ManagementFactory.getThreadMXBean();
    private static final long MMIO_A = 0x1000;
    private static final long MMIO_B = 0x2000;
    private static final long POLL_MS = 20;
    private static final DispatchPolicy[] POLICIES = {DispatchPolicy.RELEASE_REACQUIRE, DispatchPolicy.NESTED};

    @Override
    public String id() {
        return "F6";
    }

    @Override
    public String slug() {
        return "recursive-dispatch";
    }

    @Override
    public String claim() {
        return "Releasing the caller's AioContext before dispatching into another context's MMIO (release, acquire,"
                + " re-acquire) never deadlocks and completes DMAs in every run, while naive nested locking deadlocks in"
                + " at least one run.";
    }

    @Override
    public Verdict judge(Table t, Sweep s) {
        List<Object[]> rr = t.where("policy", label(DispatchPolicy.RELEASE_REACQUIRE));
        List<Object[]> nested = t.where("policy", label(DispatchPolicy.NESTED));
        int dl = t.index("deadlocked");
        int done = t.index("completed_dmas");
        long rrDeadlocks = rr.stream().filter(r -> Boolean.TRUE.equals(r[dl])).count();
        long rrIdle = rr.stream().filter(r -> ((Number) r[done]).longValue() == 0).count();
        long nestedDeadlocks = nested.stream().filter(r -> Boolean.TRUE.equals(r[dl])).count();
        return Verdict.all(List.of(
                rrDeadlocks == 0 && rrIdle == 0 && !rr.isEmpty()
                        ? Verdict.supported("release-reacquire: " + rr.size() + " runs, no deadlock, DMAs in each")
                        : Verdict.notSupported("release-reacquire: " + rrDeadlocks + " of " + rr.size() + " runs deadlocked, "
                                + rrIdle + " completed no DMA"),
                nestedDeadlocks > 0
                        ? Verdict.supported("nested: deadlocked in " + nestedDeadlocks + " of " + nested.size() + " runs")
                        : Verdict.notSupported("nested: no deadlock in " + nested.size() + " runs")));
    }

    static int reps(boolean quick) {
        return quick ? 1 : 3;
    }

    static long windowMs(boolean quick) {
        return quick ? 1_000 : 3_000;
    }

    @Override
    public int steps(boolean quick) {
        return POLICIES.length * reps(quick);
    }

    @Override
    public String expectedRuntime(boolean quick) {
        return quick ? "~2 s" : "~10 s";
    }

    @Override
    public List<String> columns() {
        return List.of("policy", "rep", "window_s", "completed_dmas", "deadlocked", "detected_after_ms",
                "reentrancy_refusals", "handler_runs_mid_own_dma", "ops_per_s", "threads_left_stuck");
    }

    static String label(DispatchPolicy p) {
        return p == DispatchPolicy.NESTED ? "nested" : "release-reacquire";
    }

    @Override
    public Outcome run(Sweep s) throws Exception {
        Table t = new Table(columns().toArray(String[]::new));
        long window = windowMs(s.quick());
        for (int rep = 0; rep < reps(s.quick()); rep++) {
            for (DispatchPolicy p : POLICIES) {
                Run r = crossDma(p, window, s.log());
                t.add(label(p), rep, r.seconds, r.completed, r.deadlocked, r.detectedAfterMs, r.refusals, r.midDma,
                        r.completed / r.seconds, r.stuck);
                s.log().printf("%s rep %d: %d DMAs in %.2f s, deadlocked %s%s%n", label(p), rep, r.completed, r.seconds,
                        r.deadlocked, r.deadlocked ? " after " + r.detectedAfterMs + " ms" : "");
                s.step();
            }
        }

        Panel done = Panel.bars("Cross-device DMAs completed per run (" + window / 1000 + " s window)",
                "dispatch policy", "millions of DMAs (A->B plus B->A), mean of runs");
        List<Double> doneMillions = new ArrayList<>();
        Panel dead = Panel.bars("Runs that deadlocked", "dispatch policy", "runs (of " + reps(s.quick()) + ")");
        List<Object> names = new ArrayList<>();
        List<Double> deadCounts = new ArrayList<>();
        List<String> findings = new ArrayList<>();
        for (DispatchPolicy p : POLICIES) {
            List<Object[]> rows = t.where("policy", label(p));
            long deadRuns = rows.stream().filter(r -> (Boolean) r[t.index("deadlocked")]).count();
            names.add(label(p));
            deadCounts.add((double) deadRuns);
            double meanDone = rows.stream().mapToDouble(r -> Table.number(r, t.index("completed_dmas"))).average()
                    .orElse(Double.NaN);
            doneMillions.add(meanDone / 1e6);
            double meanRate = rows.stream().mapToDouble(r -> Table.number(r, t.index("ops_per_s"))).average()
                    .orElse(Double.NaN);
            if (deadRuns == 0) {
                findings.add(String.format(Locale.ROOT, "%s: %.0f cross-device DMAs per %.0f s run (%.0f per s), 0"
                                + " deadlocks in %d runs; %d re-entrancy refusals.", label(p), meanDone, window / 1000.0,
                        meanRate, rows.size(), rows.stream().mapToLong(r -> ((Number) r[6]).longValue()).sum()));
            } else {
                double meanAt = rows.stream().filter(r -> (Boolean) r[t.index("deadlocked")])
                        .mapToDouble(r -> Table.number(r, t.index("detected_after_ms"))).average().orElse(Double.NaN);
                findings.add(String.format(Locale.ROOT, "%s: deadlocked in %d of %d runs after %.0f DMAs on average"
                                + " (detected by the JVM's deadlock detector %.0f ms into the run on average) and"
                                + " was broken by interrupting one IOThread.", label(p), deadRuns, rows.size(),
                        meanDone, meanAt));
            }
        }
        done.series("completed DMAs", names, doneMillions);
        dead.series("deadlocked runs", names, deadCounts);
        long stuck = t.rows().stream().mapToLong(r -> ((Number) r[t.index("threads_left_stuck")]).longValue()).sum();
        List<String> notes = new ArrayList<>();
        notes.add("A deadlock is broken by interrupting device A's IOThread, whose NESTED wait for B's context then"
                + " fails; both IOThreads finish and are closed before the next run"
                + (stuck > 0 ? " except " + stuck + " daemon threads that stayed stuck." : "."));
        return new Outcome(t, List.of(done, dead), findings, notes);
    }

    /** What one run measured. */
    record Run(double seconds, long completed, boolean deadlocked, long detectedAfterMs, long refusals, long midDma,
               int stuck) {}

    /**
     * Runs the two devices for {@code windowMs} under {@code policy}; stops early when the deadlock
     * detector reports both IOThreads. Context: the main thread (the sweep's).
     */
    static Run crossDma(DispatchPolicy policy, long windowMs, java.io.PrintStream log) throws InterruptedException {
        AddressSpace as = new AddressSpace("f6-sys");
        Device a = new Device("A");
        Device b = new Device("B");
        a.wire(as, MMIO_A, policy);
        b.wire(as, MMIO_B, policy);
        a.peer = b;
        b.peer = a;
        CyclicBarrier start = new CyclicBarrier(3);
        a.start(start);
        b.start(start);
        try {
            start.await(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("the devices did not start: " + e, e);
        }
        long t0 = System.nanoTime();
        long deadline = t0 + TimeUnit.MILLISECONDS.toNanos(windowMs);
        boolean deadlocked = false;
        while (System.nanoTime() - deadline < 0) {
            Thread.sleep(POLL_MS);
            long[] ids = MX.findDeadlockedThreads();
            if (ids != null && contains(ids, a.thread.get()) && contains(ids, b.thread.get())) {
                deadlocked = true;
                break;
            }
        }
        long elapsed = System.nanoTime() - t0;
        long completed = a.handled.get() + b.handled.get(); // counted before the break lets queued ones through
        a.stop = true;
        b.stop = true;
        if (deadlocked) {
            a.thread.get().interrupt(); // A's NESTED wait fails with INTERRUPTED; B then gets A's context
        }
        int stuck = 0;
        if (!a.done.await(10, TimeUnit.SECONDS) || !b.done.await(10, TimeUnit.SECONDS)) {
            for (Device d : List.of(a, b)) {
                if (d.done.getCount() > 0) {
                    d.thread.get().interrupt();
                }
            }
            a.done.await(10, TimeUnit.SECONDS);
            b.done.await(10, TimeUnit.SECONDS);
        }
        for (Device d : List.of(a, b)) {
            if (d.done.getCount() > 0) {
                stuck++; // a daemon thread: leave it rather than hang the sweep in IOThread.stop's join
                log.println("device " + d.name + ": its IOThread did not finish; left running (daemon)");
            } else {
                d.close();
            }
            Throwable e = d.error.get();
            boolean expected = deadlocked && e instanceof MemoryAccessException m
                    && m.kind() == MemoryAccessException.Kind.INTERRUPTED;
            if (e != null && !expected) {
                throw new IllegalStateException("device " + d.name + " failed under " + policy + ": " + e, e);
            }
        }
        long refusals = a.guard.refusedCount() + b.guard.refusedCount();
        return new Run(elapsed / 1e9, completed, deadlocked, deadlocked ? TimeUnit.NANOSECONDS.toMillis(elapsed) : 0,
                refusals, a.midDma.get() + b.midDma.get(), stuck);
    }

    private static boolean contains(long[] ids, Thread t) {
        return t != null && Arrays.stream(ids).anyMatch(x -> x == t.getId());
    }

    /**
     * A device with registers and a guarded bottom half in its own IOThread; the bottom half DMAs
     * {@value #BATCH} register writes into the peer's MMIO per run and reschedules itself until
     * told to stop.
     */
    static final class Device {
        static final int BATCH = 64;
        final String name;
        final IOThread io;
        final ReentrancyGuard guard;
        /** Writes into this device's registers that completed; incremented by the handler's thread (atomic). */
        final AtomicLong handled = new AtomicLong();
        /** Handler runs while this device's own DMA was in flight (its context released); atomic. */
        final AtomicLong midDma = new AtomicLong();
        /** Written by the device's IOThread around each DMA; read by handlers on the peer's thread. */
        volatile boolean inDma;
        /** Written by the main thread to end the run; read by the bottom half. */
        volatile boolean stop;
        /** The first failure of the bottom half; set by the device's IOThread, read by the main thread after done. */
        final AtomicReference<Throwable> error = new AtomicReference<>();
        /** The IOThread's thread, set by it on its first run; read by the main thread. */
        final AtomicReference<Thread> thread = new AtomicReference<>();
        final CountDownLatch done = new CountDownLatch(1);
        // Set by the main thread before the first schedule (which publishes them); then read-only.
        Dma dma;
        long base;
        Device peer;
        CyclicBarrier start;
        BottomHalf bh;
        /** Whether the bottom half passed the start barrier; IOThread only. */
        boolean started;

        Device(String name) {
            this.name = name;
            this.io = IOThread.start("f6-io-" + name, IOThread.UNPINNED);
            this.guard = new ReentrancyGuard(name);
        }

        AioContext ctx() {
            return io.context();
        }

        void wire(AddressSpace as, long base, DispatchPolicy policy) {
            as.map(base, new MmioRegion("mmio-" + name, 0x100, ctx(), guard, new MmioOps() {
                @Override
                public long read(long offset, int size) {
                    return handled.get();
                }

                @Override
                public void write(long offset, long value, int size) {
                    if (inDma) {
                        midDma.incrementAndGet();
                    }
                    handled.incrementAndGet();
                }
            }));
            this.base = base;
            this.dma = new Dma(as, ctx(), guard, policy);
        }

        void start(CyclicBarrier barrier) {
            this.start = barrier;
            bh = ctx().newBottomHalf("f6-dma-" + name, guard.guarded(this::run));
            bh.schedule();
        }

        /** Context: this device's IOThread, holding its context. */
        private void run() {
            try {
                if (!started) {
                    thread.set(Thread.currentThread());
                    started = true;
                    start.await(30, TimeUnit.SECONDS); // holding our context, as in the deadlock
                }
                for (int i = 0; i < BATCH && !stop; i++) {
                    inDma = true;
                    try {
                        dma.writeU32(peer.base, i);
                    } finally {
                        inDma = false;
                    }
                }
            } catch (Throwable t) {
                error.compareAndSet(null, t);
                Thread.interrupted(); // never return to the loop with the flag set
                done.countDown();
                return;
            }
            if (stop) {
                done.countDown();
            } else {
                bh.schedule();
            }
        }

        void close() {
            bh.delete();
            io.close();
        }
    }
}
