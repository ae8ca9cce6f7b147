package org.mqblock.block;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Test threads whose failures fail the test: {@link #join(Duration)} rethrows the first one, and
 * names any thread still running at its deadline (a submitter waiting for a completion that never
 * comes) instead of leaving the test to hang until its @Timeout.
 */
public final class Workers {

    private final List<Thread> threads = new ArrayList<>();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();

    public Workers start(String name, Runnable body) {
        Thread t = new Thread(() -> {
            try {
                body.run();
            } catch (Throwable e) {
                if (!failure.compareAndSet(null, e)) {
                    failure.get().addSuppressed(e);
                }
            }
        }, name);
        t.setDaemon(true); // one stuck on a lost completion must not keep the test JVM alive
        threads.add(t);
        t.start();
        return this;
    }

    /** The first failure of a worker so far, or null. Context: any thread. */
    public Throwable failure() {
        return failure.get();
    }

    /**
     * Waits up to {@code timeout} for every thread, then rethrows the first failure; fails naming
     * the threads still running (and where they wait) if some did not finish.
     */
    public void join(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        for (Thread t : threads) {
            long left = deadline - System.nanoTime();
            if (left > 0) {
                t.join(Math.max(1, left / 1_000_000));
            }
        }
        Throwable e = failure.get();
        if (e instanceof Error err) {
            throw err;
        }
        if (e != null) {
            throw new AssertionError("worker failed", e);
        }
        List<String> stuck = new ArrayList<>();
        for (Thread t : threads) {
            if (t.isAlive()) {
                StackTraceElement[] st = t.getStackTrace();
                stuck.add(t.getName() + " at " + Arrays.asList(st).subList(0, Math.min(6, st.length)));
            }
        }
        if (!stuck.isEmpty()) {
            throw new AssertionError(stuck.size() + " worker(s) still running " + timeout.toSeconds()
                    + " s later (a lost completion leaves its submitter waiting): " + stuck);
        }
    }
}
