package org.mqblock.block.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.mqblock.block.BlockDriverState;
import org.mqblock.block.BlockRequest;
import org.mqblock.block.BlockStatus;
import org.mqblock.block.TestIo;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.IOThread;

/** A snapshot flushes the image it freezes before the overlay takes the writes. */
class SnapshotFlushTest {

    /** A RAM disk with a file name that logs what reaches it. */
    static final class RecordingDriver implements BlockDriver {
        final MemoryDriver data = new MemoryDriver(4 << 20);
        final List<String> events = new CopyOnWriteArrayList<>();

        @Override public String format() { return "recording"; }
        @Override public long length() { return data.length(); }
        @Override public DriverCapabilities capabilities() { return data.capabilities(); }
        @Override public String filename() { return "recorded.raw"; }
        @Override public void truncate(long n) { data.truncate(n); }
        @Override public void flushBlocking() { events.add("flush"); }
        @Override public void readBlocking(long offset, ByteBuffer dst) { data.readBlocking(offset, dst); }
        @Override public void close() { events.add("close"); }

        @Override
        public DriverQueue attach(AioContext ctx) {
            DriverQueue inner = data.attach(ctx);
            return new DriverQueue() {
                @Override public void readv(BlockRequest r) { inner.readv(r); }
                @Override public void writev(BlockRequest r) { events.add("write"); inner.writev(r); }
                @Override public void flush(BlockRequest r) { inner.flush(r); }
                @Override public void discard(BlockRequest r) { events.add("write"); inner.discard(r); }
                @Override public void writeZeroes(BlockRequest r) { events.add("write"); inner.writeZeroes(r); }
                @Override public void detach() { inner.detach(); }
            };
        }
    }

    @TempDir
    Path dir;

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void snapshotFlushesTheOldImageAndSendsLaterWritesToTheOverlay() throws Exception {
        RecordingDriver base = new RecordingDriver();
        try (IOThread io = IOThread.start("snap", IOThread.UNPINNED)) {
            BlockDriverState bs = BlockDriverState.create("snap", base, List.of(io.context(), io.context()));
            assertEquals(BlockStatus.OK, TestIo.write(bs.queue(0), 0, TestIo.pattern(4096, 1)));
            assertEquals(BlockStatus.OK, TestIo.write(bs.queue(1), 8192, TestIo.pattern(4096, 2)));
            bs.snapshot(dir.resolve("top.thin"), 64 << 10);
            assertEquals(List.of("write", "write", "flush"), base.events, "flushed before the switch");
            assertEquals("thin", bs.driver().format());
            assertEquals(BlockStatus.OK, TestIo.write(bs.queue(0), 4096, TestIo.pattern(4096, 3)));
            ThinDriverTest.assertRead(bs.queue(1), 0, TestIo.pattern(4096, 1));
            ThinDriverTest.assertRead(bs.queue(1), 4096, TestIo.pattern(4096, 3));
            ThinDriverTest.assertRead(bs.queue(0), 8192, TestIo.pattern(4096, 2));
            assertEquals(List.of("write", "write", "flush"), base.events, "the frozen image takes no more writes");
            bs.close();
            assertTrue(base.events.contains("close"), "closing the overlay closes its backing");
        }
    }
}
