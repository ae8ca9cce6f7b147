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

    /** {@link #blockStatus} flag: no data is allocated here in this node or its backing chain. */
    int STATUS_HOLE = 1;
    /** {@link #blockStatus} flag: the range reads as zeros. */
    int STATUS_ZERO = 2;

    /**
     * The allocation status of the run that starts at {@code offset} (QEMU's
     * {@code bdrv_co_block_status}, NBD's {@code base:allocation}): the result packs the run's
     * length (at least 1 byte, at most {@code length}) with its flags, {@link #STATUS_HOLE} and
     * {@link #STATUS_ZERO}, which mean what NBD_STATE_HOLE and NBD_STATE_ZERO mean. Read it with
     * {@link #statusLength} and {@link #statusFlags}. The default reports everything as data, which
     * is always correct, only uninformative. Context: any thread; may block (a worker thread of the
     * caller's pool when the driver reads metadata).
     *
     * @throws IOException if the metadata cannot be read
     */
    default long blockStatus(long offset, long length) throws IOException {
        return status(length, 0);
    }

    /** Packs a {@link #blockStatus} result: a run of {@code length} bytes with {@code flags}. */
    static long status(long length, int flags) {
        if (length < 1 || length > (Long.MAX_VALUE >>> 2) || (flags & ~3) != 0) {
            throw new IllegalArgumentException("run length " + length + ", flags " + flags);
        }
        return (length << 2) | flags;
    }

    /** The run length of a {@link #blockStatus} result. */
    static long statusLength(long status) {
        return status >>> 2;
    }

    /** The flags of a {@link #blockStatus} result. */
    static int statusFlags(long status) {
        return (int) (status & 3);
    }

    /** Closes the node; its queues must have been detached. Context: the main loop. */
    @Override
    void close() throws IOException;
}
