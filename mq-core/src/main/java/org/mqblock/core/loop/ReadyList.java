package org.mqblock.core.loop;

import java.util.Arrays;

/**
 * The sources a {@link FdMonitor#wait} found ready, with their events: filled by the monitor,
 * dispatched and emptied by the context. Grows, never shrinks, so a steady loop allocates nothing.
 * Not threadsafe: the home thread only.
 */
public final class ReadyList {

    private FdWatch[] watches = new FdWatch[16];
    private int[] events = new int[16];
    private int size;

    /** For the context, and for tests of a monitor outside this package. */
    public ReadyList() {}

    /** Adds a ready source. Context: the home thread, inside {@link FdMonitor#wait}. */
    public void add(FdWatch watch, int readyEvents) {
        if (size == watches.length) {
            watches = Arrays.copyOf(watches, size * 2);
            events = Arrays.copyOf(events, size * 2);
        }
        watches[size] = watch;
        events[size] = readyEvents;
        size++;
    }

    int size() {
        return size;
    }

    FdWatch watch(int i) {
        return watches[i];
    }

    int events(int i) {
        return events[i];
    }

    /** Forgets entries from {@code from} on (nested polls keep the outer poll's entries below it). */
    void truncate(int from) {
        Arrays.fill(watches, from, size, null);
        size = from;
    }
}
