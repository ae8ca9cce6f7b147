package org.mqblock.experiments.img;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.mqblock.block.driver.BlockDriver;

/**
 * The allocation of an image as runs of like status, from {@link BlockDriver#blockStatus} (the one
 * source {@code map} and {@code convert} ask): adjacent runs with the same flags are merged, as
 * qemu-img's map merges them.
 */
final class Extents {

    /**
     * A run of {@code length} bytes at {@code start}: {@code data} when some layer of the chain
     * holds data for it, {@code zero} when it reads as zeros.
     */
    record Extent(long start, long length, boolean data, boolean zero) {
        long end() {
            return start + length;
        }
    }

    private Extents() {}

    /** What {@link #walk} hands each run to. */
    interface RunConsumer {
        void accept(Extent run) throws IOException;
    }

    /** The runs of {@code [start, start + length)} of {@code image}, in order, covering it exactly. */
    static List<Extent> of(BlockDriver image, long start, long length) throws IOException {
        List<Extent> out = new ArrayList<>();
        walk(image, start, length, out::add);
        return out;
    }

    /**
     * Hands each run of {@code [start, start + length)} to {@code consumer} in order, holding only
     * the run being merged: an image of any fragmentation is walked in constant memory.
     */
    static void walk(BlockDriver image, long start, long length, RunConsumer consumer) throws IOException {
        long end = Math.min(image.length(), start + length);
        long pos = start;
        Extent pending = null;
        while (pos < end) {
            long s = image.blockStatus(pos, end - pos);
            long n = Math.min(BlockDriver.statusLength(s), end - pos);
            int flags = BlockDriver.statusFlags(s);
            boolean data = (flags & BlockDriver.STATUS_HOLE) == 0;
            boolean zero = (flags & BlockDriver.STATUS_ZERO) != 0;
            if (pending != null && pending.data() == data && pending.zero() == zero) {
                pending = new Extent(pending.start(), pending.length() + n, data, zero);
            } else {
                if (pending != null) {
                    consumer.accept(pending);
                }
                pending = new Extent(pos, n, data, zero);
            }
            pos += n;
        }
        if (pending != null) {
            consumer.accept(pending);
        }
    }
}
