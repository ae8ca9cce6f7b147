package org.mqblock.block.driver;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.mqblock.block.AsyncMutex;
import org.mqblock.block.BlockRequest;
import org.mqblock.block.BlockStatus;
import org.mqblock.block.driver.ThinFormat.Header;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.ThreadPool;

/**
 * A thin-provisioned image in a real file (a small relative of qcow2; layout in {@link
 * ThinFormat}): a header, a two-level table mapping virtual clusters to clusters of the file, and
 * clusters allocated on first write. An unallocated cluster reads from the backing image (an
 * external snapshot's older image) or as zeros.
 *
 * <h2>Concurrency</h2>
 * Reads, and writes to clusters already allocated, run on every queue in parallel: they only read
 * the tables, which live in memory as atomic arrays. Whatever changes the tables (allocating on
 * first write, zeroing, discarding) is serialized per node by an {@link AsyncMutex}: a queue that
 * needs it leaves a continuation instead of blocking its IOThread, and holds it across the
 * worker's I/O until the completion runs. All file I/O runs on the queue's context's thread pool.
 *
 * <p>An allocating write writes the whole data cluster (merged with the backing data or zeros),
 * then the L2 entry, then (for a new L2 table) the L1 entry, and only then publishes the entry in
 * memory (a volatile store that readers on other queues load): a crash between leaves a leaked
 * cluster, never a table pointing at garbage. {@link #check} finds both kinds of trouble.
 *
 * <p>The tables are cached whole in memory (8 bytes per cluster); the image survives close and
 * reopen; flush is {@code fdatasync}, covering data and tables alike.
 */
public final class ThinDriver implements BlockDriver {

    public static final int DEFAULT_CLUSTER_SIZE = 64 * 1024;
    /** Worker-to-context signal: the write met a cluster that needs allocating; retry holding the mutex. */
    private static final int NEEDS_METADATA = 1;

    private final Path path;
    private final FileChannel channel;
    private final BlockDriver backing;
    private final AsyncMutex metadataLock = new AsyncMutex();
    /** Requests that failed with EIO; any queue's worker completion adds (atomic). */
    private final java.util.concurrent.atomic.AtomicLong failures = new java.util.concurrent.atomic.AtomicLong();
    private final int clusterBits;
    private final int clusterSize;
    private final int l2Entries;
    private final DriverCapabilities caps = new DriverCapabilities(true, 512, 32 << 20, true, true);

    /** Main loop writes (open, truncate: drained); workers and contexts read (volatile). */
    private volatile Header header;
    /** L1 entries; replaced only when the table grows (drained). Elements: holders of the mutex write. */
    private volatile AtomicLongArray l1;
    /** L2 tables by L1 index (null: none); holders of the mutex publish new tables (volatile). */
    private volatile AtomicReferenceArray<AtomicLongArray> l2;
    /** Next free cluster at the end of the file: holders of the mutex (and truncate, drained) only. */
    private long nextFree;

    private ThinDriver(Path path, FileChannel channel, Header header, BlockDriver backing) throws IOException {
        this.path = path;
        this.channel = channel;
        this.header = header;
        this.backing = backing;
        this.clusterBits = header.clusterBits();
        this.clusterSize = header.clusterSize();
        this.l2Entries = header.l2Entries();
        loadTables();
        this.nextFree = align(channel.size());
    }

    // ---------------------------------------------------------------------------------------
    // Creating, opening, checking

    /**
     * Creates a thin image of {@code size} virtual bytes, empty, optionally backed by {@code
     * backingFile} (stored as given; a relative name is resolved against the image's directory).
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
        Header probe = new Header(bits, size, clusterSize, 0, 0, backingFile);
        long entries = probe.l1EntriesFor(size);
        long l1Clusters = Math.max(1, (entries * 8 + clusterSize - 1) / clusterSize);
        long capacity = l1Clusters * clusterSize / 8;
        if (capacity > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("image of " + size + " bytes needs too large an L1 table; use larger clusters");
        }
        Header h = probe.with(size, clusterSize, (int) entries, (int) capacity);
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer buf = ByteBuffer.allocate(clusterSize).order(ByteOrder.LITTLE_ENDIAN);
            h.encode(buf);
            FileDriver.pwriteFully(ch, buf, 0);
            FileDriver.pwriteFully(ch, ByteBuffer.allocate((int) (l1Clusters * clusterSize)), clusterSize);
            ch.force(true);
        }
    }

    /**
     * Opens a thin image. Its backing image, if the header names one, is {@code backingOverride}
     * when given (a snapshot hands over the node it replaces), else opened from the file named in
     * the header (a thin image or a raw file, told apart by the magic).
     */
    public static ThinDriver open(Path path, BlockDriver backingOverride) throws IOException {
        FileChannel ch = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
        BlockDriver backing = backingOverride;
        try {
            Header h = readHeader(ch, path.toString());
            if (backing == null && h.backing() != null) {
                backing = openImage(resolve(path, h.backing()));
            }
            return new ThinDriver(path, ch, h, backing);
        } catch (IOException | RuntimeException e) {
            ch.close();
            if (backing != null && backing != backingOverride) {
                backing.close();
            }
            throw e;
        }
    }

    /** Opens an image as a thin image if it has the magic, else as a raw file. */
    public static BlockDriver openImage(Path path) throws IOException {
        return isThin(path) ? open(path, null) : FileDriver.open(path, false);
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

    private static Path resolve(Path image, String backing) {
        Path p = Path.of(backing);
        Path dir = image.toAbsolutePath().getParent();
        return p.isAbsolute() || dir == null ? p : dir.resolve(p);
    }

    private static Header readHeader(FileChannel ch, String what) throws IOException {
        ByteBuffer first = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
        FileDriver.preadFully(ch, first, 0);
        first.flip();
        int bits = first.getInt(ThinFormat.CLUSTER_BITS_OFFSET);
        if (bits > ThinFormat.MIN_CLUSTER_BITS && bits <= ThinFormat.MAX_CLUSTER_BITS) {
            ByteBuffer whole = ByteBuffer.allocate(1 << bits).order(ByteOrder.LITTLE_ENDIAN);
            FileDriver.preadFully(ch, whole, 0);
            whole.flip();
            return Header.decode(whole, what);
        }
        return Header.decode(first, what);
    }

    private void loadTables() throws IOException {
        Header h = header;
        long fileSize = channel.size();
        if (h.l1Offset() + (long) h.l1Capacity() * 8 > fileSize) {
            throw new IOException(path + ": L1 table at " + h.l1Offset() + " runs past the end of the file");
        }
        ByteBuffer raw = ByteBuffer.allocate(h.l1Capacity() * 8).order(ByteOrder.LITTLE_ENDIAN);
        FileDriver.preadFully(channel, raw, h.l1Offset());
        AtomicLongArray l1Table = new AtomicLongArray(h.l1Capacity());
        AtomicReferenceArray<AtomicLongArray> l2Tables = new AtomicReferenceArray<>(h.l1Capacity());
        ByteBuffer table = ByteBuffer.allocate(clusterSize).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < h.l1Entries(); i++) {
            long off = raw.getLong(i * 8);
            l1Table.set(i, off);
            if (off != 0) {
                if ((off & (clusterSize - 1)) != 0 || off + clusterSize > fileSize) {
                    throw new IOException(path + ": L1 entry " + i + " points at " + off + ", outside the file or unaligned");
                }
                FileDriver.preadFully(channel, table.clear(), off);
                AtomicLongArray t = new AtomicLongArray(l2Entries);
                for (int j = 0; j < l2Entries; j++) {
                    t.set(j, table.getLong(j * 8));
                }
                l2Tables.set(i, t);
            }
        }
        this.l1 = l1Table;
        this.l2 = l2Tables;
    }

    /** What {@link #check} found. */
    public record CheckResult(List<String> errors, long allocatedClusters, long leakedClusters) {
        public boolean consistent() {
            return errors.isEmpty();
        }
    }

    /**
     * Checks an image's consistency (like {@code qemu-img check}): the header, every table entry
     * aligned and inside the file, no cluster used twice or overlapping the metadata; clusters in
     * the file that nothing references are reported as leaks, which waste space but corrupt nothing.
     */
    public static CheckResult check(Path path) throws IOException {
        List<String> errors = new ArrayList<>();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            Header h;
            try {
                h = readHeader(ch, path.toString());
            } catch (IllegalArgumentException e) {
                return new CheckResult(List.of(e.getMessage()), 0, 0);
            }
            int cs = h.clusterSize();
            long fileSize = ch.size();
            long clusters = (fileSize + cs - 1) / cs;
            BitSet used = new BitSet((int) Math.min(clusters, Integer.MAX_VALUE));
            used.set(0); // header
            long l1Clusters = ((long) h.l1Capacity() * 8 + cs - 1) / cs;
            for (long c = 0; c < l1Clusters; c++) {
                markUsed(used, (h.l1Offset() / cs) + c, "L1 table", errors, clusters);
            }
            ByteBuffer raw = ByteBuffer.allocate(h.l1Capacity() * 8).order(ByteOrder.LITTLE_ENDIAN);
            FileDriver.preadFully(ch, raw, h.l1Offset());
            ByteBuffer table = ByteBuffer.allocate(cs).order(ByteOrder.LITTLE_ENDIAN);
            long allocated = 0;
            for (int i = 0; i < h.l1Capacity(); i++) {
                long l2Off = raw.getLong(i * 8);
                if (l2Off == 0) {
                    continue;
                }
                if (i >= h.l1Entries()) {
                    errors.add("L1 entry " + i + " is set but beyond the " + h.l1Entries() + " entries in use");
                }
                if ((l2Off & (cs - 1)) != 0 || l2Off + cs > fileSize) {
                    errors.add("L1 entry " + i + ": L2 table offset " + l2Off + " unaligned or outside the file");
                    continue;
                }
                markUsed(used, l2Off / cs, "L2 table " + i, errors, clusters);
                FileDriver.preadFully(ch, table.clear(), l2Off);
                for (int j = 0; j < h.l2Entries(); j++) {
                    long e = table.getLong(j * 8);
                    long host = e & ThinFormat.OFFSET_MASK;
                    if (host == 0) {
                        continue;
                    }
                    if ((e & ~ThinFormat.OFFSET_MASK & ~ThinFormat.ZERO_FLAG) != 0 || (host & (cs - 1)) != 0
                            || host + cs > fileSize) {
                        errors.add("L2 table " + i + " entry " + j + ": " + Long.toHexString(e)
                                + " is unaligned, has unknown flags, or points outside the file");
                        continue;
                    }
                    long vcluster = (long) i * h.l2Entries() + j;
                    if (vcluster * cs >= h.size()) {
                        errors.add("L2 table " + i + " entry " + j + " maps a cluster beyond the virtual size");
                    }
                    markUsed(used, host / cs, "data cluster of virtual cluster " + vcluster, errors, clusters);
                    allocated++;
                }
            }
            long leaked = clusters - used.cardinality();
            return new CheckResult(List.copyOf(errors), allocated, leaked);
        }
    }

    private static void markUsed(BitSet used, long cluster, String what, List<String> errors, long clusters) {
        if (cluster >= clusters) {
            errors.add(what + " at cluster " + cluster + " is outside the file");
        } else if (used.get((int) cluster)) {
            errors.add(what + " uses cluster " + cluster + ", which is already in use");
        } else {
            used.set((int) cluster);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Node

    @Override
    public String format() {
        return "thin";
    }

    @Override
    public long length() {
        return header.size();
    }

    @Override
    public DriverCapabilities capabilities() {
        return caps;
    }

    @Override
    public String filename() {
        return path.toString();
    }

    public BlockDriver backing() {
        return backing;
    }

    public int clusterSize() {
        return clusterSize;
    }

    private long align(long n) {
        return (n + clusterSize - 1) & ~((long) clusterSize - 1);
    }

    /** The L2 entry of virtual cluster {@code vc}, 0 when unmapped. Context: any thread. */
    private long entry(long vc) {
        int i = (int) (vc / l2Entries);
        AtomicReferenceArray<AtomicLongArray> tables = l2;
        if (i >= tables.length()) {
            return 0;
        }
        AtomicLongArray t = tables.get(i);
        return t == null ? 0 : t.get((int) (vc % l2Entries));
    }

    private static boolean plainAllocated(long e) {
        return (e & ThinFormat.OFFSET_MASK) != 0 && (e & ThinFormat.ZERO_FLAG) == 0;
    }

    @Override
    public void truncate(long newSize) throws IOException {
        Header h = header;
        long entries = h.l1EntriesFor(newSize);
        if (entries > Integer.MAX_VALUE) {
            throw new IOException("size " + newSize + " needs too large an L1 table");
        }
        long l1Offset = h.l1Offset();
        int capacity = h.l1Capacity();
        if (entries > capacity) {
            // Move the table to the end of the file with room to double (the old clusters leak).
            long newCapacity = Math.max(entries, 2L * capacity);
            long bytes = align(newCapacity * 8);
            newCapacity = Math.min(Integer.MAX_VALUE, bytes / 8);
            ByteBuffer table = ByteBuffer.allocate((int) bytes).order(ByteOrder.LITTLE_ENDIAN);
            AtomicLongArray oldL1 = l1;
            for (int i = 0; i < h.l1Entries(); i++) {
                table.putLong(i * 8, oldL1.get(i));
            }
            l1Offset = nextFree;
            FileDriver.pwriteFully(channel, table, l1Offset);
            nextFree += bytes;
            capacity = (int) newCapacity;
            AtomicLongArray grown = new AtomicLongArray(capacity);
            AtomicReferenceArray<AtomicLongArray> grownL2 = new AtomicReferenceArray<>(capacity);
            for (int i = 0; i < h.l1Entries(); i++) {
                grown.set(i, oldL1.get(i));
                grownL2.set(i, l2.get(i));
            }
            l1 = grown;
            l2 = grownL2;
        } else if (newSize < h.size()) {
            dropMappingsFrom(newSize, h);
        }
        Header next = h.with(newSize, l1Offset, (int) entries, capacity);
        ByteBuffer buf = ByteBuffer.allocate(clusterSize).order(ByteOrder.LITTLE_ENDIAN);
        next.encode(buf);
        FileDriver.pwriteFully(channel, buf, 0);
        channel.force(true);
        header = next;
    }

    /** Shrinking: forget every cluster at or past {@code newSize} (its space leaks). */
    private void dropMappingsFrom(long newSize, Header h) throws IOException {
        long firstGone = (newSize + clusterSize - 1) >>> clusterBits;
        ByteBuffer zero = ByteBuffer.allocate(8);
        for (int i = 0; i < h.l1Entries(); i++) {
            AtomicLongArray t = l2.get(i);
            if (t == null) {
                continue;
            }
            long base = (long) i * l2Entries;
            if (base >= firstGone) {
                FileDriver.pwriteFully(channel, zero.clear(), h.l1Offset() + i * 8L);
                l1.set(i, 0);
                l2.set(i, null);
                continue;
            }
            for (long vc = Math.max(base, firstGone); vc < base + l2Entries; vc++) {
                int j = (int) (vc - base);
                if (t.get(j) != 0) {
                    FileDriver.pwriteFully(channel, zero.clear(), l1.get(i) + j * 8L);
                    t.set(j, 0);
                }
            }
        }
    }

    @Override
    public void flushBlocking() throws IOException {
        channel.force(false);
    }

    @Override
    public void readBlocking(long offset, ByteBuffer dst) throws IOException {
        ByteBuffer b = dst.duplicate();
        int want = b.remaining();
        int inRange = (int) Math.max(0, Math.min(want, length() - offset));
        b.limit(b.position() + inRange);
        readInto(offset, b);
        org.mqblock.block.IoVector.zero(dst, dst.position() + inRange, want - inRange);
    }

    /** Reads {@code buf}'s remaining bytes from virtual {@code offset}, cluster by cluster. Any thread. */
    private void readInto(long offset, ByteBuffer buf) throws IOException {
        int start = buf.position();
        int len = buf.remaining();
        int done = 0;
        while (done < len) {
            long pos = offset + done;
            long vc = pos >>> clusterBits;
            int within = (int) (pos & (clusterSize - 1));
            int n = Math.min(clusterSize - within, len - done);
            buf.limit(start + done + n).position(start + done);
            long e = entry(vc);
            long host = e & ThinFormat.OFFSET_MASK;
            if ((e & ThinFormat.ZERO_FLAG) != 0 || (host == 0 && backing == null)) {
                org.mqblock.block.IoVector.zero(buf, start + done, n);
            } else if (host != 0) {
                FileDriver.preadFully(channel, buf, host + within);
            } else {
                backing.readBlocking(pos, buf);
            }
            done += n;
        }
        buf.limit(start + len).position(start + len);
    }

    @Override
    public DriverQueue attach(AioContext ctx) {
        return new Queue(ctx);
    }

    @Override
    public void close() throws IOException {
        try {
            channel.close();
        } finally {
            if (backing != null) {
                backing.close();
            }
        }
    }

    @Override
    public String toString() {
        return "ThinDriver[" + path + ", " + clusterSize + "-byte clusters"
                + (backing != null ? ", backing " + backing.filename() : "") + "]";
    }

    // ---------------------------------------------------------------------------------------
    // Metadata updates: only while holding metadataLock, on a worker thread.

    /** The L2 table for L1 index {@code i}, allocating and linking a new one if needed. */
    private AtomicLongArray l2TableFor(int i, Header h) throws IOException {
        AtomicLongArray t = l2.get(i);
        if (t != null) {
            return t;
        }
        long off = nextFree;
        FileDriver.pwriteFully(channel, ByteBuffer.allocate(clusterSize), off); // an empty table first...
        nextFree += clusterSize;
        ByteBuffer e = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, off);
        FileDriver.pwriteFully(channel, e, h.l1Offset() + i * 8L); // ... then the L1 entry pointing at it
        t = new AtomicLongArray(l2Entries);
        l1.set(i, off);
        l2.set(i, t);
        return t;
    }

    /** Writes L2 entry {@code vc} on disk, then publishes it to readers. */
    private void setEntry(long vc, long value, Header h, ByteBuffer scratch8) throws IOException {
        int i = (int) (vc / l2Entries);
        int j = (int) (vc % l2Entries);
        AtomicLongArray t = l2TableFor(i, h);
        scratch8.clear();
        scratch8.putLong(0, value);
        FileDriver.pwriteFully(channel, scratch8, l1.get(i) + j * 8L);
        t.set(j, value); // volatile: readers see the entry only with the data and table on disk
    }

    // ---------------------------------------------------------------------------------------
    // Per queue

    private final class Queue implements DriverQueue {
        private final AioContext ctx;
        // The queue's context thread only.
        private final ArrayDeque<ThinIo> free = new ArrayDeque<>();

        Queue(AioContext ctx) {
            this.ctx = ctx;
        }

        private ThinIo io(BlockRequest r, boolean locked) {
            ThinIo io = free.pollFirst();
            if (io == null) {
                io = new ThinIo(this);
            }
            io.request = r;
            io.locked = locked;
            return io;
        }

        /** Starts {@code r} holding the metadata mutex (now, or once handed over). */
        private void withMetadataLock(BlockRequest r) {
            if (metadataLock.lockOrQueue(ctx, () -> ctx.threadPool().submit(io(r, true)))) {
                ctx.threadPool().submit(io(r, true));
            }
        }

        @Override
        public void readv(BlockRequest r) {
            ctx.threadPool().submit(io(r, false));
        }

        @Override
        public void writev(BlockRequest r) {
            long first = r.offset() >>> clusterBits;
            long last = (r.offset() + r.length() - 1) >>> clusterBits;
            for (long vc = first; vc <= last; vc++) {
                if (!plainAllocated(entry(vc))) {
                    withMetadataLock(r);
                    return;
                }
            }
            ctx.threadPool().submit(io(r, false)); // every cluster allocated: no metadata to touch
        }

        @Override
        public void flush(BlockRequest r) {
            ctx.threadPool().submit(io(r, false));
        }

        @Override
        public void discard(BlockRequest r) {
            withMetadataLock(r);
        }

        @Override
        public void writeZeroes(BlockRequest r) {
            withMetadataLock(r);
        }

        @Override
        public void detach() {
            free.clear();
        }
    }

    /** One request on a worker; reused through its queue's free list. */
    private final class ThinIo extends ThreadPool.Request {
        private final Queue owner;
        // Written by the context thread before submit, read by the worker (ordered by the pool).
        BlockRequest request;
        boolean locked;
        // Worker only: buffers reused across requests.
        private ByteBuffer data;
        private final ByteBuffer cluster = ByteBuffer.allocateDirect(clusterSize).order(ByteOrder.LITTLE_ENDIAN);
        private final ByteBuffer scratch8 = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);

        ThinIo(Queue owner) {
            this.owner = owner;
        }

        private ByteBuffer data(int len) {
            if (data == null || data.capacity() < len) {
                data = ByteBuffer.allocateDirect(Math.max(len, clusterSize));
            }
            return data.clear().limit(len);
        }

        @Override
        protected int run() {
            BlockRequest r = request;
            try {
                return switch (r.op()) {
                    case READ -> read(r);
                    case WRITE -> write(r);
                    case FLUSH -> {
                        channel.force(false);
                        yield BlockStatus.OK;
                    }
                    case WRITE_ZEROES -> zeroRange(r.offset(), r.length(), true);
                    case DISCARD -> zeroRange(r.offset(), r.length(), false);
                };
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e); // -> EIO, cause kept in failure()
            }
        }

        private int read(BlockRequest r) throws IOException {
            int len = (int) r.length();
            ByteBuffer b = data(len);
            readInto(r.offset(), b);
            r.iov().copyFrom(0, b, 0, len);
            return BlockStatus.OK;
        }

        private int write(BlockRequest r) throws IOException {
            int len = (int) r.length();
            ByteBuffer b = data(len);
            r.iov().copyTo(0, b, 0, len);
            return writeRange(r.offset(), b, len);
        }

        /** Writes {@code len} bytes of {@code src} (from 0) at virtual {@code offset}. */
        private int writeRange(long offset, ByteBuffer src, int len) throws IOException {
            Header h = header;
            int done = 0;
            while (done < len) {
                long pos = offset + done;
                long vc = pos >>> clusterBits;
                int within = (int) (pos & (clusterSize - 1));
                int n = Math.min(clusterSize - within, len - done);
                long e = entry(vc);
                if (plainAllocated(e)) {
                    src.limit(done + n).position(done);
                    FileDriver.pwriteFully(channel, src, (e & ThinFormat.OFFSET_MASK) + within);
                } else if (!locked) {
                    return NEEDS_METADATA; // raced with a zeroing: redo under the mutex
                } else {
                    allocate(vc, e, h, src, done, within, n);
                }
                done += n;
            }
            return BlockStatus.OK;
        }

        /** Gives virtual cluster {@code vc} a host cluster holding its old content overlaid with the new bytes. */
        private void allocate(long vc, long e, Header h, ByteBuffer src, int srcIndex, int within, int n) throws IOException {
            long host = e & ThinFormat.OFFSET_MASK;
            cluster.clear();
            if ((e & ThinFormat.ZERO_FLAG) != 0 || backing == null) {
                org.mqblock.block.IoVector.zero(cluster, 0, clusterSize);
            } else {
                backing.readBlocking(vc << clusterBits, cluster);
            }
            if (src != null) {
                // writeRange narrowed src's limit to the previous cluster's part; the absolute put checks against it
                src.limit(srcIndex + n);
                cluster.put(within, src, srcIndex, n);
            } else {
                org.mqblock.block.IoVector.zero(cluster, within, n);
            }
            if (host == 0) {
                host = nextFree;
                nextFree += clusterSize;
            }
            FileDriver.pwriteFully(channel, cluster.clear(), host);
            setEntry(vc, host, h, scratch8);
        }

        /**
         * Write-zeroes ({@code write}) or discard: whole clusters become zero clusters (keeping
         * their space); partial clusters get zeros written for write-zeroes and are left alone for
         * discard, which is advisory.
         */
        private int zeroRange(long offset, long length, boolean write) throws IOException {
            Header h = header;
            long end = offset + length;
            long pos = offset;
            while (pos < end) {
                long vc = pos >>> clusterBits;
                int within = (int) (pos & (clusterSize - 1));
                int n = (int) Math.min(clusterSize - within, end - pos);
                long e = entry(vc);
                if (n == clusterSize) {
                    long host = e & ThinFormat.OFFSET_MASK;
                    if (host != 0 || backing != null) {
                        setEntry(vc, host | ThinFormat.ZERO_FLAG, h, scratch8); // else it reads as zeros already
                    }
                } else if (write && (e & ThinFormat.ZERO_FLAG) == 0 && (e != 0 || backing != null)) {
                    if (plainAllocated(e)) {
                        ByteBuffer z = data(n);
                        org.mqblock.block.IoVector.zero(z, 0, n);
                        FileDriver.pwriteFully(channel, z, (e & ThinFormat.OFFSET_MASK) + within);
                    } else {
                        allocate(vc, e, h, null, 0, within, n);
                    }
                }
                pos += n;
            }
            return BlockStatus.OK;
        }

        @Override
        protected void complete(int ret) {
            BlockRequest r = request;
            boolean held = locked;
            request = null;
            owner.free.addFirst(this);
            if (held) {
                metadataLock.unlock();
            }
            if (ret == NEEDS_METADATA) {
                owner.withMetadataLock(r);
                return;
            }
            if (ret < 0 && failures.incrementAndGet() <= 10) { // the guest sees only EIO: say why, for the first few
                Throwable c = failure() instanceof java.io.UncheckedIOException u ? u.getCause() : failure();
                System.err.println("thin " + path + ": " + r.op() + " of " + r.length() + " bytes at " + r.offset()
                        + " failed (EIO, status " + ret + "): " + c);
            }
            r.queue().complete(r, ret < 0 ? BlockStatus.EIO : BlockStatus.OK);
        }
    }
}
