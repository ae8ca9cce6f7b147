package org.mqblock.core.loop;

/** The clock a context's timers and polling window read; tests substitute a manual one. */
@FunctionalInterface
public interface NanoClock {
    NanoClock SYSTEM = System::nanoTime;

    /** A monotonic reading in nanoseconds (only differences are meaningful, as with nanoTime). */
    long nanoTime();
}
