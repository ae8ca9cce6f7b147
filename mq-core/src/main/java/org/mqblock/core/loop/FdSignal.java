package org.mqblock.core.loop;

/**
 * A kernel object another process can signal and wait on: an eventfd (mq-native's {@code EventFd}).
 * An {@link EventNotifier} made over one ({@code ioeventfd}: the other process writes, a context
 * watches) or an interrupt made over one ({@code irqfd}: we write, the other process waits) uses it
 * in place of the Java flag. Context: any thread, for every method.
 */
public interface FdSignal {

    /** The file descriptor, for an {@link FdMonitor} to watch. */
    int fd();

    /** Signals it (an eventfd write of 1). */
    void signal();

    /** Consumes any pending signal without blocking; returns whether there was one. */
    boolean testAndClear();
}
