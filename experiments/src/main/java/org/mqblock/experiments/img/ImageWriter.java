package org.mqblock.experiments.img;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.List;
import org.mqblock.block.BlockDriverState;
import org.mqblock.block.BlockRequest;
import org.mqblock.block.BlockStatus;
import org.mqblock.block.IoVector;
import org.mqblock.block.QueueSubmitter;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.core.loop.IOThread;

/**
 * Writes to an image through the block layer, as qemu-img writes through QEMU's: one queue on one
 * IOThread, fed by a {@link QueueSubmitter} with a few requests in flight, so a thin image
 * allocates its clusters the way a guest's writes would. The first failed request is remembered
 * and thrown, naming its offset, by the next call.
 *
 * <p>Not threadsafe: one thread (the command's) calls everything.
 */
final class ImageWriter implements AutoCloseable {

    /** Requests in flight; enough to overlap the file I/O of one with the copying of the next. */
    private static final int DEPTH = 8;

    private final IOThread thread;
    private final BlockDriverState node;
    private final QueueSubmitter submitter;
    private final int chunk;
    /** Requests not in flight. */
    private final ArrayDeque<Slot> free = new ArrayDeque<>();
    private String firstFailure;

    /** Takes ownership of {@code driver}: closing the writer flushes and closes it. */
    ImageWriter(BlockDriver driver, int chunk) {
        this.chunk = chunk;
        this.thread = IOThread.start("img-writer", IOThread.UNPINNED);
        try {
            this.node = BlockDriverState.create("img", driver, List.of(thread.context()));
        } catch (RuntimeException e) {
            thread.close();
            throw e;
        }
        this.submitter = node.newSubmitter(0, DEPTH);
        for (int i = 0; i < DEPTH; i++) {
            free.add(new Slot(chunk));
        }
    }

    /** The largest write {@link #write} takes. */
    int chunk() {
        return chunk;
    }

    long length() {
        return node.length();
    }

    /** Writes {@code src}'s remaining bytes (at most {@link #chunk()}) at {@code offset}; copies them first. */
    void write(long offset, ByteBuffer src) throws IOException {
        int n = src.remaining();
        if (n == 0 || n > chunk) {
            throw new IllegalArgumentException("a write of " + n + " bytes: the writer takes 1 to " + chunk);
        }
        Slot r = take();
        r.buffer.clear().put(src);
        r.iov.clear().addShared(r.buffer, 0, n);
        r.write(offset, r.iov, submitter);
        r.tag = offset;
        submit(r);
    }

    /** Makes {@code length} bytes at {@code offset} read as zeros (WRITE_ZEROES: a thin image keeps no data for them). */
    void writeZeroes(long offset, long length) throws IOException {
        Slot r = take();
        r.writeZeroes(offset, length, submitter);
        r.tag = offset;
        submit(r);
    }

    /** Waits for every write, then flushes the image; throws the first failure. */
    void flush() throws IOException {
        Slot r = take();
        r.flush(submitter);
        r.tag = -1;
        submit(r);
        while (submitter.outstanding() > 0) {
            submitter.awaitCompletions(this::reaped, DEPTH);
        }
        throwIfFailed();
    }

    private void submit(Slot r) {
        if (!submitter.submit(r)) {
            throw new AssertionError("submitter refused a request within its depth");
        }
    }

    /** A free request, waiting for a completion if all are in flight. */
    private Slot take() throws IOException {
        while (free.isEmpty()) {
            submitter.awaitCompletions(this::reaped, DEPTH);
        }
        throwIfFailed();
        return free.poll();
    }

    private void reaped(BlockRequest r) {
        if (r.status() != BlockStatus.OK && firstFailure == null) {
            firstFailure = r.op() + " of " + r.length() + " bytes at offset " + r.tag + " failed: "
                    + BlockStatus.name(r.status());
        }
        free.add((Slot) r);
    }

    private void throwIfFailed() throws IOException {
        if (firstFailure != null) {
            throw new IOException(firstFailure);
        }
    }

    /** Flushes and closes the image and the IOThread; a failure of the flush is thrown after both close. */
    @Override
    public void close() throws IOException {
        try {
            while (submitter.outstanding() > 0) {
                submitter.awaitCompletions(this::reaped, DEPTH);
            }
            submitter.close();
            node.close();
        } finally {
            thread.close();
        }
        throwIfFailed();
    }

    /** A request with its own data buffer. */
    private static final class Slot extends BlockRequest {
        final ByteBuffer buffer;
        final IoVector iov = new IoVector(1);

        Slot(int chunk) {
            buffer = ByteBuffer.allocateDirect(chunk);
        }
    }
}
