package org.mqblock.block.driver;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import org.mqblock.block.driver.ThinFormat.Header;

/**
 * Thin images as files: create, open, and the tools {@code qemu-img} has for qcow2 (info, check
 * and repair, map, resize, rebase, commit), as a library API that {@code mqb img} and the block
 * layer build on. The runtime driver is {@link ThinDriver}.
 *
 * <p>Every open takes the image's locks ({@link ImageLock}): a second writer, or a reader while
 * one writes, is refused with a message naming the image. A backing image is opened read-only.
 * Context: the calling thread (the main loop, or a tool's thread); each call opens and closes what
 * it needs, except {@link #open}.
 */
public final class ThinImage {

    public static final int DEFAULT_CLUSTER_SIZE = 64 * 1024;

    private ThinImage() {}

    // ---------------------------------------------------------------------------------------
    // Create and open

    /**
     * Creates a thin image of {@code size} virtual bytes, empty, optionally backed by {@code
     * backingFile}: stored as given, and a relative name is resolved against the directory of
     * the image, as qcow2 does.
     *
     * @throws IllegalArgumentException for a bad cluster size or size
     */
    public static void create(Path path, long size, int clusterSize, String backingFile) throws IOException {
        if (clusterSize < (1 << ThinFormat.MIN_CLUSTER_BITS) || clusterSize > (1 << ThinFormat.MAX_CLUSTER_BITS)
                || Integer.bitCount(clusterSize) != 1) {
            throw new IllegalArgumentException("cluster size must be a power of two in [4k, 2M], got " + clusterSize);
        }
        if (size < 0) {
            throw new IllegalArgumentException("size must be >= 0, got " + size);
        }
        int bits = Integer.numberOfTrailingZeros(clusterSize);
        Header probe = new Header(bits, size, clusterSize, 0, 0, backingFile, 0);
        long entries = probe.l1EntriesFor(size);
        long l1Clusters = Math.max(1, (entries * 8 + clusterSize - 1) / clusterSize);
        long capacity = l1Clusters * clusterSize / 8;
        if (capacity > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("image of " + size + " bytes needs too large an L1 table; use larger clusters");
        }
        Header h = probe.withTables(size, clusterSize, (int) entries, (int) capacity);
        ByteBuffer buf = ByteBuffer.allocate(clusterSize).order(ByteOrder.LITTLE_ENDIAN);
        h.encode(buf); // before touching the file: a name too long for the header fails here
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            FileDriver.pwriteFully(ch, buf, 0);
            FileDriver.pwriteFully(ch, ByteBuffer.allocate((int) (l1Clusters * clusterSize)), clusterSize);
            ch.force(true);
        }
    }

    /**
     * Creates a thin overlay of {@code backing} (an open image with a file), naming the backing
     * file relative to the overlay's directory when both share an ancestor, else absolutely, so
     * the name resolves the same from any working directory.
     */
    public static void createOverlay(Path overlay, BlockDriver backing, int clusterSize) throws IOException {
        if (backing.filename() == null) {
            throw new IllegalArgumentException("driver '" + backing.format() + "' has no image file to serve as a backing image");
        }
        create(overlay, backing.length(), clusterSize, backingName(overlay, Path.of(backing.filename())));
    }

    /** The name to store for {@code backing} in {@code overlay}'s header. */
    static String backingName(Path overlay, Path backing) {
        Path dir = overlay.toAbsolutePath().normalize().getParent();
        Path b = backing.toAbsolutePath().normalize();
        return dir != null && b.startsWith(dir) ? dir.relativize(b).toString() : b.toString();
    }

    /** {@code backing} as named in {@code image}'s header, resolved against the image's directory. */
    public static Path resolveBacking(Path image, String backing) {
        Path p = Path.of(backing);
        Path dir = image.toAbsolutePath().getParent();
        return p.isAbsolute() || dir == null ? p : dir.resolve(p);
    }

    /**
     * Opens a thin image and its backing chain (read-only, with {@link ImageAccess#READ}'s locks,
     * or none under {@link ImageAccess#READ_SHARED}).
     *
     * @throws IOException naming the image if it is in use, corrupt (for writing), or unreadable
     * @throws IllegalArgumentException if the header is not a valid thin header
     */
    public static ThinDriver open(Path path, ImageAccess access) throws IOException {
        return open(path, access, null, true);
    }

    /** Opens {@code path} for writing over {@code backing}, an open node (a snapshot hands over the node it replaces). */
    public static ThinDriver openOver(Path path, BlockDriver backing) throws IOException {
        return open(path, ImageAccess.WRITE, backing, true);
    }

    /**
     * Opens {@code path}; its backing image is {@code backingOverride} when given, else the file
     * its header names when {@code withBacking}, else none (a tool that reads only this layer).
     */
    static ThinDriver open(Path path, ImageAccess access, BlockDriver backingOverride, boolean withBacking) throws IOException {
        return open(path, access, backingOverride, withBacking, UnaryOperator.identity());
    }

    /** As above, with {@code wrap} put between the image and its file (a test's recording or failing layer). */
    static ThinDriver open(Path path, ImageAccess access, BlockDriver backingOverride, boolean withBacking,
                           UnaryOperator<ThinFile> wrap) throws IOException {
        ImageLock lock = ImageLock.acquire(path, access);
        ThinFile file = null;
        BlockDriver backing = backingOverride;
        try {
            file = wrap.apply(ThinFile.open(path, access.writable()));
            Header h = ThinCheck.readHeader(file, path.toString());
            if (h.corrupt() && access.writable()) {
                throw new IOException("image '" + path + "' is marked corrupt: it opens read-only until 'check -r all' repairs it");
            }
            ThinTables tables = ThinTables.load(path, file, h);
            if (backing == null && withBacking && h.backing() != null) {
                backing = openImage(resolveBacking(path, h.backing()),
                        access == ImageAccess.READ_SHARED ? ImageAccess.READ_SHARED : ImageAccess.READ);
            }
            return new ThinDriver(tables, backing, access.writable(), lock::close);
        } catch (IOException | RuntimeException e) {
            if (file != null) {
                file.close();
            }
            if (backing != null && backing != backingOverride) {
                backing.close();
            }
            lock.close();
            throw e;
        }
    }

    /**
     * Opens an image as a thin image if it has the magic, else as a raw file ({@link FileDriver}
     * for writing; read-only, it serves as a backing image only).
     */
    public static BlockDriver openImage(Path path, ImageAccess access) throws IOException {
        if (!Files.isRegularFile(path)) {
            throw new IOException("image '" + path + "' does not exist or is not a regular file");
        }
        if (isThin(path)) {
            return open(path, access);
        }
        return access.writable() ? FileDriver.open(path, false) : RawBacking.open(path, access);
    }

    /** Whether the file starts with the thin magic. */
    public static boolean isThin(Path path) throws IOException {
        if (!Files.isRegularFile(path) || Files.size(path) < 8) {
            return false;
        }
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            FileDriver.preadFully(ch, b, 0);
            return b.getLong(0) == ThinFormat.MAGIC;
        }
    }

    // ---------------------------------------------------------------------------------------
    // info

    /**
     * What {@code qemu-img info} shows.
     *
     * @param backingFile the name stored in the header, or null
     * @param backingPath that name resolved against the image's directory, or null
     * @param allocatedClusters clusters of this layer holding data
     * @param zeroClusters clusters of this layer marked as reading zeros
     */
    public record Info(String filename, long virtualSize, long fileLength, int clusterSize, String backingFile,
                       Path backingPath, boolean corrupt, long allocatedClusters, long zeroClusters) {}

    /** Reads {@code path}'s header and tables (locking as {@code access} says; never writes). */
    public static Info info(Path path, ImageAccess access) throws IOException {
        if (access.writable()) {
            throw new IllegalArgumentException("info reads: give READ or READ_SHARED");
        }
        try (ThinDriver d = open(path, access, null, false)) {
            ThinTables t = d.tables();
            Header h = t.header();
            long data = 0;
            long zeros = 0;
            long clusters = (h.size() + t.clusterSize - 1) >>> t.clusterBits;
            for (long vc = t.nextMapped(0); vc < clusters; vc = t.nextMapped(vc + 1)) {
                long e = t.entry(vc);
                if (ThinTables.zero(e)) {
                    zeros++;
                } else if (e != 0) {
                    data++;
                }
            }
            return new Info(path.toString(), h.size(), t.file.size(), t.clusterSize, h.backing(),
                    h.backing() == null ? null : resolveBacking(path, h.backing()), h.corrupt(), data, zeros);
        }
    }

    // ---------------------------------------------------------------------------------------
    // check

    /**
     * What {@link #check} found and did.
     *
     * @param completed false when the header is too damaged to check anything (qemu-img's exit 1)
     * @param errors each inconsistency, in words naming the table and entry
     * @param allocatedClusters data clusters the tables map
     * @param leakedClusters clusters of the file nothing uses (after any repair)
     * @param repairedErrors errors that repair fixed
     * @param repairedLeaks leaked clusters repair cut off the end of the file
     */
    public record CheckResult(boolean completed, List<String> errors, long allocatedClusters, long leakedClusters,
                              int repairedErrors, long repairedLeaks) {
        /** No error (leaks are no error). */
        public boolean consistent() {
            return completed && errors.isEmpty();
        }

        /** Errors found and not repaired. */
        public int remainingErrors() {
            return completed ? errors.size() - repairedErrors : Math.max(1, errors.size());
        }
    }

    /** How much {@link #check} repairs ({@code qemu-img check -r leaks|all}). */
    public enum Repair { NONE, LEAKS, ALL }

    /** Checks {@code path} without changing it (taking a reader's locks). */
    public static CheckResult check(Path path) throws IOException {
        return check(path, Repair.NONE);
    }

    /**
     * Checks {@code path} and repairs what {@code repair} says (see {@link ThinCheck}); a repair
     * takes a writer's locks. Never throws for what it finds, only for I/O it cannot do.
     */
    public static CheckResult check(Path path, Repair repair) throws IOException {
        return check(path, repair, false);
    }

    /**
     * As {@link #check(Path, Repair)}; with {@code forceShare} ({@code qemu-img check -U}) a check
     * without repair takes no lock, so it runs beside a writer and may see tables in mid-update.
     */
    public static CheckResult check(Path path, Repair repair, boolean forceShare) throws IOException {
        if (forceShare && repair != Repair.NONE) {
            throw new IllegalArgumentException("a repair writes: it cannot share the image (no force-share)");
        }
        ImageAccess access = forceShare ? ImageAccess.READ_SHARED : repair == Repair.NONE ? ImageAccess.READ : ImageAccess.WRITE;
        try (ImageLock lock = ImageLock.acquire(path, access);
             ThinFile file = ThinFile.open(path, repair != Repair.NONE)) {
            return ThinCheck.run(file, path.toString(), repair);
        }
    }

    // ---------------------------------------------------------------------------------------
    // map

    /**
     * One run of {@link #map}: {@code qemu-img map --output=json}'s fields.
     *
     * @param depth the layer that decides the run's content (0: this image), or the chain's length
     *     where no layer has it
     * @param present whether some layer has it (data or zeros)
     * @param hostOffset where the data lies in {@code file}, or -1
     */
    public record Extent(long start, long length, int depth, boolean present, boolean zero, boolean data,
                         long hostOffset, String file) {}

    /** The allocation of every byte of {@code path}'s virtual disk, through its backing chain. */
    public static List<Extent> map(Path path, ImageAccess access) throws IOException {
        if (access.writable()) {
            throw new IllegalArgumentException("map reads: give READ or READ_SHARED");
        }
        List<Extent> out = new ArrayList<>();
        try (ThinDriver top = open(path, access)) {
            long size = top.length();
            long pos = 0;
            while (pos < size) {
                Extent e = extentAt(top, pos, size - pos, 0);
                Extent last = out.isEmpty() ? null : out.get(out.size() - 1);
                if (last != null && last.depth() == e.depth() && last.zero() == e.zero() && last.data() == e.data()
                        && last.present() == e.present() && java.util.Objects.equals(last.file(), e.file())
                        && (last.hostOffset() < 0 ? e.hostOffset() < 0 : last.hostOffset() + last.length() == e.hostOffset())) {
                    out.set(out.size() - 1, new Extent(last.start(), last.length() + e.length(), last.depth(),
                            last.present(), last.zero(), last.data(), last.hostOffset(), last.file()));
                } else {
                    out.add(e);
                }
                pos += e.length();
            }
        }
        return out;
    }

    private static Extent extentAt(BlockDriver node, long pos, long max, int depth) {
        if (node instanceof ThinDriver t) {
            ThinTables tables = t.tables();
            int cs = tables.clusterSize;
            long n = Math.min(max, cs - (pos & (cs - 1)));
            long e = tables.entry(pos >>> tables.clusterBits);
            if (ThinTables.zero(e)) {
                return new Extent(pos, n, depth, true, true, false, -1, null);
            }
            if (e != 0) {
                return new Extent(pos, n, depth, true, false, true, ThinTables.hostOffset(e) + (pos & (cs - 1)), t.filename());
            }
            if (t.backing() == null || pos >= t.backing().length()) { // nothing below: up to the next table at once
                long next = Math.min(tables.nextMapped((pos >>> tables.clusterBits) + 1), Long.MAX_VALUE >>> tables.clusterBits);
                n = Math.max(n, Math.min(max, (next << tables.clusterBits) - pos));
                return new Extent(pos, n, depth + 1, false, true, false, -1, null);
            }
            Extent below = extentAt(t.backing(), pos, Math.min(n, t.backing().length() - pos), depth + 1);
            return below;
        }
        return new Extent(pos, max, depth, true, false, true, pos, node.filename()); // raw: all data
    }

    // ---------------------------------------------------------------------------------------
    // resize, rebase, commit

    /** Changes the virtual size ({@code qemu-img resize}); a range regrown after a shrink reads zeros. */
    public static void resize(Path path, long newSize) throws IOException {
        if (newSize < 0) {
            throw new IllegalArgumentException("size must be >= 0, got " + newSize);
        }
        try (ThinDriver d = open(path, ImageAccess.WRITE)) {
            d.truncate(newSize);
        }
    }

    /**
     * Changes the backing file name in the header, touching no data ({@code qemu-img rebase -u}):
     * {@code newBacking} (null: none) must name an image that exists, relative to {@code path}'s
     * directory unless absolute.
     */
    public static void rebase(Path path, String newBacking) throws IOException {
        if (newBacking != null && !Files.isRegularFile(resolveBacking(path, newBacking))) {
            throw new IOException("new backing image '" + resolveBacking(path, newBacking) + "' does not exist");
        }
        try (ThinDriver d = open(path, ImageAccess.WRITE, null, false)) {
            ThinTables t = d.tables();
            t.writeHeader(t.header().withBacking(newBacking));
        }
    }

    /**
     * Copies every cluster this image holds (data and zero clusters) into its backing image,
     * makes it durable there, then empties this image ({@code qemu-img commit}). Returns the bytes
     * committed.
     *
     * @throws IOException if there is no backing image, or it is smaller than what must go into it
     */
    public static long commit(Path path) throws IOException {
        try (ThinDriver top = open(path, ImageAccess.WRITE, null, false)) {
            ThinTables t = top.tables();
            String name = t.header().backing();
            if (name == null) {
                throw new IOException("image '" + path + "' has no backing image to commit to");
            }
            Path basePath = resolveBacking(path, name);
            if (isThin(basePath)) {
                try (ThinDriver base = open(basePath, ImageAccess.WRITE, null, true)) {
                    ThinClusterIo io = new ThinClusterIo(base.tables(), base.backing());
                    return ThinCommit.run(top, base.length(), (buf, offset) -> io.write(offset, buf, buf.remaining(), true),
                            base::flushBlocking);
                }
            }
            try (ImageLock lock = ImageLock.acquire(basePath, ImageAccess.WRITE);
                 ThinFile base = ThinFile.open(basePath, true)) {
                return ThinCommit.run(top, base.size(), (buf, offset) -> base.write(buf, offset), base::sync);
            }
        }
    }
}
