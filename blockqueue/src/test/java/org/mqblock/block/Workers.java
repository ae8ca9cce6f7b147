package org.mqblock.block;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

/** Test threads whose failures fail the test: {@link #join()} rethrows the first one. */
public final class Workers {

    private final List<Thread> threads = new ArrayList<>();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();

    public Workers start(String name, Runnable body) {
        Thread t = new Thread(() -> {
            try {
                body.run();
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
            }
        }, name);
        threads.add(t);
        t.start();
        return this;
    }

    /** Waits for every thread, then rethrows the first failure. */
    public void join() throws InterruptedException {
        for (Thread t : threads) {
            t.join();
        }
        Throwable e = failure.get();
        if (e instanceof Error err) {
            throw err;
        }
        if (e != null) {
            throw new AssertionError("worker failed", e);
        }
    }
}
