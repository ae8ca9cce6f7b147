package org.mqblock.block.driver;

import org.mqblock.block.BlockRequest;

/**
 * A driver's state for one queue, living in that queue's context: the thread pool it submits to,
 * its timers, its free lists. Each method starts a request and returns; the request completes later
 * through {@link org.mqblock.block.BlockQueue#complete} (from a completion handler) or {@link
 * org.mqblock.block.BlockQueue#completeLater} (when the work was done inline).
 *
 * <p>The block layer has validated the request (range, alignment, support) before it gets here.
 * Context: every method runs in the queue's context thread, holding it. Not threadsafe otherwise.
 */
public interface DriverQueue {

    void readv(BlockRequest request);

    void writev(BlockRequest request);

    void flush(BlockRequest request);

    void discard(BlockRequest request);

    void writeZeroes(BlockRequest request);

    /**
     * Gives back what the queue took from its context (timers, bottom halves). Called in a drained
     * section, with nothing in flight, by a thread holding the context.
     */
    void detach();
}
