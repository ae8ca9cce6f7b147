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

    /** The runs of {@code [start, start + length)} of {@code image}, in order, covering it exactly. */
    static List<Extent> of(BlockDriver image, long start, long length) throws IOException {
        List<Extent> out = new ArrayList<>();
        long end = Math.min(image.length(), start + length);
        long pos = start;
        while (pos < end) {
            long s = image.blockStatus(pos, end - pos);
            long n = Math.min(BlockDriver.statusLength(s), end - pos);
            int flags = BlockDriver.statusFlags(s);
            boolean data = (flags & BlockDriver.STATUS_HOLE) == 0;
            boolean zero = (flags & BlockDriver.STATUS_ZERO) != 0;
            Extent last = out.isEmpty() ? null : out.get(out.size() - 1);
            if (last != null && last.data() == data && last.zero() == zero) {
                out.set(out.size() - 1, new Extent(last.start(), last.length() + n, data, zero));
            } else {
                out.add(new Extent(pos, n, data, zero));
            }
            pos += n;
        }
        return out;
    }
}
