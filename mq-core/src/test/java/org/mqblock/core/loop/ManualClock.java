package org.mqblock.core.loop;

import java.util.concurrent.atomic.AtomicLong;

/** A clock the test moves by hand; optionally ticking a fixed step on every read. */
final class ManualClock implements NanoClock {
    private final AtomicLong now = new AtomicLong(1_000_000_000L);
    private final long tickPerRead;

    ManualClock() {
        this(0);
    }

    ManualClock(long tickPerRead) {
        this.tickPerRead = tickPerRead;
    }

    @Override
    public long nanoTime() {
        return now.getAndAdd(tickPerRead);
    }

    void advance(long ns) {
        now.addAndGet(ns);
    }

    long peek() {
        return now.get();
    }
}
