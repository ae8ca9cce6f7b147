package org.mqblock.memory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.agrona.BufferUtil;
import org.agrona.UnsafeAccess;

/**
 * Memory another process shares, without native code: a temporary file mapped twice with {@code
 * FileChannel.map(READ_WRITE)}, which is {@code MAP_SHARED}. {@link #region} is guest RAM over
 * the first mapping, as the owner of a memfd would hand it over; {@link #theirs} is the second
 * mapping, the other process's view of the same pages. The release action counts its runs and
 * remembers the thread it ran on.
 */
final class SharedFile implements AutoCloseable {

    final Path path;
    final long size;
    private final FileChannel channel;
    /** The mapping the region is made over. */
    final MappedByteBuffer mine;
    /** The same pages through another mapping: what the other process sees. Little-endian. */
    final MappedByteBuffer theirs;
    final AtomicInteger releases = new AtomicInteger();
    final AtomicReference<Thread> releasedOn = new AtomicReference<>();
    private Runnable alsoOnRelease = () -> { };
    private boolean mineUnmapped;

    SharedFile(long size) {
        this.size = size;
        try {
            path = Files.createTempFile("mqblock-shared-ram", ".bin");
            channel = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
            channel.truncate(0);
            channel.write(java.nio.ByteBuffer.allocate(1), size - 1); // sparse file of `size` bytes
            mine = channel.map(FileChannel.MapMode.READ_WRITE, 0, size);
            theirs = channel.map(FileChannel.MapMode.READ_WRITE, 0, size);
            theirs.order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (BufferUtil.address(mine) == BufferUtil.address(theirs)) {
            throw new IllegalStateException("two mappings of one file at the same address");
        }
    }

    long address() {
        return BufferUtil.address(mine);
    }

    /** Guest RAM over {@link #mine}, in chunks of {@code 2^chunkBits} bytes. */
    RamRegion region(String name, int chunkBits) {
        return RamRegion.shared(name, address(), size, chunkBits, (off, len) -> mine.slice((int) off, len), () -> {
            releasedOn.set(Thread.currentThread());
            releases.incrementAndGet();
            alsoOnRelease.run();
        });
    }

    /** Something more for the release action to do (it runs before the action returns). */
    void onRelease(Runnable r) {
        alsoOnRelease = r;
    }

    /** Unmaps {@link #mine} now, as the owner does once the region has released it. */
    void unmapMine() {
        if (!mineUnmapped) {
            mineUnmapped = true;
            UnsafeAccess.UNSAFE.invokeCleaner(mine);
        }
    }

    @Override
    public void close() throws IOException {
        channel.close(); // the mappings stay valid until unmapped or collected
        Files.deleteIfExists(path);
    }
}
