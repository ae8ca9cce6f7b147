package org.mqblock.block;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.core.loop.AioContext;

/**
 * The front door of the block layer ({@code BlockBackend}): a device opened from an options string
 * such as {@code driver=file,filename=disk.img,queues=4}, with its queues spread over the given
 * contexts (queue {@code i} on context {@code i mod n}). Errors name the bad key or value and list
 * what is accepted; nothing is opened when the options are bad.
 *
 * <p>Requests enter through the queues ({@link #queue(int)}, {@link BlockQueue#submit}) or through
 * submitters ({@link #newSubmitter}); graph changes go through {@link #node()}. Context: the main
 * loop, except where {@link BlockQueue} and {@link QueueSubmitter} say otherwise.
 */
public final class BlockBackend implements AutoCloseable {

    private final BlockDriverState node;

    private BlockBackend(BlockDriverState node) {
        this.node = node;
    }

    /**
     * Opens a device. Keys: {@code driver} (see {@link BlockDrivers}), {@code queues} (default:
     * one per context), and the driver's own keys.
     *
     * @throws IllegalArgumentException for a bad key or value, naming it
     * @throws UncheckedIOException if the image cannot be opened or created
     */
    public static BlockBackend open(String name, String options, List<AioContext> contexts) {
        if (contexts.isEmpty()) {
            throw new IllegalArgumentException("need at least one context to serve the queues");
        }
        BlockOptions o = BlockOptions.parse(options);
        int queues = (int) o.integer("queues", contexts.size(), 1, 1024);
        BlockDriver driver;
        try {
            driver = BlockDrivers.open(o);
        } catch (IOException e) {
            throw new UncheckedIOException(e.getMessage(), e);
        }
        try {
            Set<String> accepted = new HashSet<>(BlockDrivers.KEYS.get(driver.format()));
            accepted.add("driver");
            accepted.add("queues");
            o.checkAllUsed("driver '" + driver.format() + "'", accepted);
            List<AioContext> perQueue = new ArrayList<>();
            for (int i = 0; i < queues; i++) {
                perQueue.add(contexts.get(i % contexts.size()));
            }
            return new BlockBackend(BlockDriverState.create(name, driver, perQueue));
        } catch (RuntimeException e) {
            try {
                driver.close();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    public BlockDriverState node() {
        return node;
    }

    public int queueCount() {
        return node.queueCount();
    }

    public BlockQueue queue(int i) {
        return node.queue(i);
    }

    public long length() {
        return node.length();
    }

    /** A submitter feeding queue {@code queue} from another thread; see {@link QueueSubmitter}. */
    public QueueSubmitter newSubmitter(int queue, int depth) {
        return node.newSubmitter(queue, depth);
    }

    @Override
    public void close() {
        node.close();
    }

    @Override
    public String toString() {
        return "BlockBackend[" + node + "]";
    }
}
