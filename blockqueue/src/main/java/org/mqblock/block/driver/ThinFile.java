package org.mqblock.block.driver;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * The file under a thin image: positional reads and writes, {@code fdatasync}, size. Everything the
 * thin driver and its tools do to the disk goes through here, so a test can put a recording layer
 * underneath and replay what reached the disk before a simulated power loss.
 *
 * <p>Context: any thread; implementations are thread-safe for positional I/O (as {@link
 * FileChannel} is).
 */
interface ThinFile extends AutoCloseable {

    /** Reads {@code dst}'s remaining bytes at {@code offset}; bytes past the end read as zeros. */
    void read(ByteBuffer dst, long offset) throws IOException;

    /** Writes {@code src}'s remaining bytes at {@code offset}, extending the file if needed. */
    void write(ByteBuffer src, long offset) throws IOException;

    /** {@code fdatasync}: every write that returned before is durable when this returns. */
    void sync() throws IOException;

    long size() throws IOException;

    /** Shrinks the file to {@code size} bytes (repair drops leaked clusters at the end). */
    void truncate(long size) throws IOException;

    @Override
    void close() throws IOException;

    /** Opens {@code path} read-write, or read-only. */
    static ThinFile open(Path path, boolean writable) throws IOException {
        FileChannel ch = writable
                ? FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE)
                : FileChannel.open(path, StandardOpenOption.READ);
        return new Channel(ch);
    }

    /** The real file. */
    record Channel(FileChannel channel) implements ThinFile {
        @Override
        public void read(ByteBuffer dst, long offset) throws IOException {
            FileDriver.preadFully(channel, dst, offset);
        }

        @Override
        public void write(ByteBuffer src, long offset) throws IOException {
            FileDriver.pwriteFully(channel, src, offset);
        }

        @Override
        public void sync() throws IOException {
            channel.force(false);
        }

        @Override
        public long size() throws IOException {
            return channel.size();
        }

        @Override
        public void truncate(long size) throws IOException {
            channel.truncate(size);
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }
}
