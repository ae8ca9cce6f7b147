package org.mqblock.block.driver;

import java.io.IOException;
import java.nio.ByteBuffer;
import org.mqblock.core.loop.AioContext;

/**
 * An opened image or device: one node of the block graph ({@code BlockDriver} plus the node state
 * of a {@code BlockDriverState} in QEMU). The node is shared by every queue; per-queue state lives
 * in the {@link DriverQueue}s it hands out, one per queue and context.
 *
 * <p>Context: {@link #length()} and {@link #capabilities()} from any thread; {@link #attach},
 * {@link #truncate} and {@link #close} from the main loop, in a drained section where it says so;
 * {@link #readBlocking} from a worker thread.
 */
public interface BlockDriver extends AutoCloseable {

    /** The driver's name as in options ({@code driver=...}). */
    String format();

    /** Virtual size in bytes. */
    long length();

    DriverCapabilities capabilities();

    /**
     * Creates the per-queue state for a queue served by {@code ctx}. Context: a thread holding
     * {@code ctx}.
     */
    DriverQueue attach(AioContext ctx);

    /**
     * Changes the virtual size. Context: the main loop, in a drained section.
     *
     * @throws IOException if the image cannot be resized; the size is then unchanged
     */
    void truncate(long newLength) throws IOException;

    /**
     * Makes every completed write durable before returning (a graph change that stops writing to
     * this node flushes it first, so a later flush of its replacement covers everything). Context:
     * the main loop, in a drained section.
     */
    default void flushBlocking() throws IOException {}

    /** The image file, for drivers that have one (a snapshot overlay records it as its backing). */
    default String filename() {
        return null;
    }

    /**
     * Reads synchronously, for an overlay reading its backing image from a worker thread. Bytes
     * past {@link #length()} read as zeros.
     *
     * @throws UnsupportedOperationException if this driver cannot serve as a backing image
     */
    default void readBlocking(long offset, ByteBuffer dst) throws IOException {
        throw new UnsupportedOperationException("driver '" + format() + "' cannot be a backing image");
    }

    /** Closes the node; its queues must have been detached. Context: the main loop. */
    @Override
    void close() throws IOException;
}
