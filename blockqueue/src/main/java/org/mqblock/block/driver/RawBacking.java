package org.mqblock.block.driver;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.mqblock.block.IoVector;
import org.mqblock.core.loop.AioContext;

/**
 * A raw file opened read-only as the backing image of a thin overlay: the overlay reads it from
 * its workers ({@link #readBlocking}), and nothing writes it. It serves no queues itself (open it
 * with {@code driver=file} for that).
 *
 * <p>Context: {@link #readBlocking} from any thread (positional reads); the rest as in {@link
 * BlockDriver}.
 */
final class RawBacking implements BlockDriver {

    private final Path path;
    private final ThinFile file;
    private final long length;
    private final ImageLock lock;

    private RawBacking(Path path, ThinFile file, long length, ImageLock lock) {
        this.path = path;
        this.file = file;
        this.length = length;
        this.lock = lock;
    }

    /** Opens {@code path} read-only with {@code access}'s locks. */
    static RawBacking open(Path path, ImageAccess access) throws IOException {
        ImageLock lock = ImageLock.acquire(path, access);
        try {
            ThinFile f = ThinFile.open(path, false);
            return new RawBacking(path, f, f.size(), lock);
        } catch (IOException | RuntimeException e) {
            lock.close();
            throw e;
        }
    }

    @Override
    public String format() {
        return "raw";
    }

    @Override
    public long length() {
        return length;
    }

    @Override
    public DriverCapabilities capabilities() {
        return new DriverCapabilities(true, 512, 32 << 20, false, false);
    }

    @Override
    public DriverQueue attach(AioContext ctx) {
        throw new UnsupportedOperationException(path + " is open read-only as a backing image");
    }

    @Override
    public void truncate(long newLength) throws IOException {
        throw new IOException(path + " is open read-only as a backing image");
    }

    @Override
    public String filename() {
        return path.toString();
    }

    @Override
    public void readBlocking(long offset, ByteBuffer dst) throws IOException {
        ByteBuffer b = dst.duplicate();
        int want = b.remaining();
        int inRange = (int) Math.max(0, Math.min(want, length - offset));
        b.limit(b.position() + inRange);
        file.read(b, offset);
        IoVector.zero(dst, dst.position() + inRange, want - inRange);
    }

    @Override
    public void close() throws IOException {
        try {
            file.close();
        } finally {
            lock.close();
        }
    }

    @Override
    public String toString() {
        return "RawBacking[" + path + "]";
    }
}
