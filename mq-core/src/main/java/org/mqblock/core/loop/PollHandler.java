package org.mqblock.core.loop;

/**
 * Busy-poll hooks of an event source ({@code io_poll}, {@code io_poll_begin},
 * {@code io_poll_end} in QEMU). While its context polls, {@link #poll()} is called in a tight loop
 * instead of waiting for the source's notifier; {@link #pollBegin()} and {@link #pollEnd()}
 * bracket a polling phase so the source can suppress notifications meanwhile (virtio's
 * NO_NOTIFY). Context: the context's thread, holding it.
 */
public interface PollHandler {

    /** Returns whether the source has work, cheaply and without side effects on it. */
    boolean poll();

    /** A polling phase starts: notifications may be suppressed. */
    default void pollBegin() {}

    /** The polling phase ends: notifications must be re-enabled (the loop polls once more after). */
    default void pollEnd() {}
}
