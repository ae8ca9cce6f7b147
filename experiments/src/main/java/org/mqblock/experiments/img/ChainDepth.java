package org.mqblock.experiments.img;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.mqblock.block.BlockRequest;
import org.mqblock.block.IoVector;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.block.driver.DriverCapabilities;
import org.mqblock.block.driver.DriverQueue;
import org.mqblock.block.driver.ThinDriver;
import org.mqblock.core.loop.AioContext;

/**
 * Which layer of a backing chain holds the data of a range ({@code map}'s {@code depth}): each
 * thin layer is opened again on its own, over a stand-in backing that holds nothing, so its
 * {@link BlockDriver#blockStatus} tells what that layer alone holds. A raw image (a chain of one)
 * needs none of this. An adapter over the thin library's public API, which has no per-layer map.
 */
final class ChainDepth implements AutoCloseable {

    /** The layers, top first, each without its backing. */
    private final List<BlockDriver> alone = new ArrayList<>();

    ChainDepth(BlockDriver top) throws IOException {
        try {
            for (BlockDriver d = top; d instanceof ThinDriver t; d = t.backing()) {
                alone.add(ThinDriver.open(Path.of(t.filename()), new Nothing(t.length())));
            }
        } catch (IOException | RuntimeException e) {
            close();
            throw e;
        }
    }

    /** The layer holding the data at an offset ({@code depth} 0: the image itself) and for how many bytes it does. */
    record Depth(int depth, long bytes) {}

    /** The topmost layer with data at {@code offset}, for at most {@code length} bytes (data there in the chain). */
    Depth depthAt(long offset, long length) throws IOException {
        for (int d = 0; d < alone.size(); d++) {
            BlockDriver layer = alone.get(d);
            if (offset >= layer.length()) {
                continue;
            }
            long s = layer.blockStatus(offset, Math.min(length, layer.length() - offset));
            if ((BlockDriver.statusFlags(s) & BlockDriver.STATUS_HOLE) == 0) {
                return new Depth(d, BlockDriver.statusLength(s));
            }
        }
        return new Depth(alone.size(), length); // below every thin layer: the raw base
    }

    @Override
    public void close() throws IOException {
        IOException first = null;
        for (BlockDriver d : alone) {
            try {
                d.close();
            } catch (IOException e) {
                first = first == null ? e : first;
            }
        }
        alone.clear();
        if (first != null) {
            throw first;
        }
    }

    /** A backing that holds nothing: every byte a hole reading as zeros. Read-only, never attached. */
    private record Nothing(long length) implements BlockDriver {
        @Override
        public String format() {
            return "nothing";
        }

        @Override
        public DriverCapabilities capabilities() {
            return new DriverCapabilities(true, 512, 32 << 20, false, false);
        }

        @Override
        public DriverQueue attach(AioContext ctx) {
            throw new UnsupportedOperationException("a stand-in backing serves no queue");
        }

        @Override
        public void truncate(long newLength) {
            throw new UnsupportedOperationException("a stand-in backing cannot be resized");
        }

        @Override
        public void readBlocking(long offset, ByteBuffer dst) {
            IoVector.zero(dst, dst.position(), dst.remaining());
        }

        @Override
        public long blockStatus(long offset, long len) {
            return BlockDriver.status(len, STATUS_HOLE | STATUS_ZERO);
        }

        @Override
        public void close() {}
    }
}
