package org.mqblock.block;

/**
 * Receives a finished request ({@code BlockCompletionFunc}); the status is in {@link
 * BlockRequest#status()}. Called in the completing queue's context thread, usually inside a
 * {@link org.mqblock.core.loop.DeferCall} region, so an implementation that raises an interrupt or
 * wakes a thread should defer that call to batch it.
 */
@FunctionalInterface
public interface BlockCompletion {
    void complete(BlockRequest request);
}
