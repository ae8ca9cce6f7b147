package org.mqblock.block.driver;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.mqblock.block.driver.ThinFormat.Header;

/**
 * A thin image's metadata in memory: the header, the L1 table and every L2 table (cached whole, 8
 * bytes per cluster), the host-cluster allocator, the map of which host clusters hold metadata;
 * and how changes to them reach the file.
 *
 * <h2>Power-loss safety: tables written back at flush, after the data</h2>
 * There are no refcounts. Which host clusters are in use is derived, on every open, from the
 * tables on disk (qcow2's lazy refcounts taken to their end: the refcounts are always rebuilt).
 * Two rules make that safe:
 * <ol>
 * <li><b>Data before tables.</b> A table change (a new L2 entry, a new L2 table, a zero flag, an
 *     unmap) is made in memory only, published to readers, and marked dirty. {@link #flush}
 *     writes the dirty tables back between two {@code fdatasync}s: the first makes every data
 *     cluster (and every new, zeroed L2 table cluster) that the tables are about to point at
 *     durable; the second makes the tables durable before the flush completes. So whatever subset
 *     of a flush's table writes reaches the disk, each entry on disk points at data that is
 *     there; an entry never points at garbage, and a torn flush only loses writes since the
 *     previous flush, which a flush never promised.</li>
 * <li><b>No reuse before reopen.</b> The allocator hands out only clusters no table on disk
 *     references: at open it takes the clusters the loaded tables do not use (below the end of
 *     the file, or of the last cluster referenced, whichever is further), then the end. A cluster
 *     a table drops while running (discard, shrink) is not handed out again until the image is
 *     reopened, because the on-disk table may still point at it until the next flush. So no power
 *     loss can leave two entries sharing a cluster (a cross-link).</li>
 * </ol>
 * The header is rewritten only with the tables it points at already durable, between syncs. A
 * process kill (the page cache survives) loses only table changes since the last flush, as a
 * power loss does: data writes to clusters already allocated are in place and survive. This is
 * qcow2's guarantee with its writeback metadata cache; the price of keeping completed allocating
 * writes across a kill would be an {@code fdatasync} per allocating write.
 *
 * <h2>Context and ownership</h2>
 * {@link #entry}, {@link #isMetadata} and {@link #header} from any thread (lock-free). Everything
 * that changes the tables runs on one thread at a time, "the metadata holder": a holder of the
 * driver's metadata mutex (a worker thread) or, with no request in flight, the main loop (drained
 * section, or an image tool with no queues attached).
 */
final class ThinTables {

    final Path path;
    final ThinFile file;
    final int clusterBits;
    final int clusterSize;
    final int l2Entries;

    /** The metadata holder writes; any thread reads (volatile). */
    private volatile Header header;
    /** Set once, by whichever thread first finds the metadata inconsistent (volatile; under {@code this}). */
    private volatile boolean corrupt;
    /** L1 entries; replaced when the table grows. Elements: the metadata holder writes (volatile). */
    private volatile AtomicLongArray l1;
    /** L2 tables by L1 index (null: none); the metadata holder publishes new tables (volatile). */
    private volatile AtomicReferenceArray<AtomicLongArray> l2;
    /** One bit per host cluster holding metadata; the metadata holder sets bits and replaces it to grow (volatile). */
    private volatile AtomicLongArray metadata;
    /** Whether some table change is not yet on disk: the metadata holder writes, any thread reads (volatile). */
    private volatile boolean dirty;

    // The metadata holder only.
    /** Where the L1 table lives (the header follows once the table is durable). */
    private long l1Offset;
    /** L1 indices whose L2 table changed since the last flush. */
    private final BitSet dirtyTables = new BitSet();
    private boolean l1Dirty;
    /** Clusters below {@link #end} that no table referenced when the image was opened. */
    private final BitSet free = new BitSet();
    private int freeCursor;
    /** The first cluster past everything the file holds or a table references. */
    private long end;
    private final ByteBuffer tableBuffer;

    private ThinTables(Path path, ThinFile file, Header header) {
        this.path = path;
        this.file = file;
        this.header = header;
        this.corrupt = header.corrupt();
        this.clusterBits = header.clusterBits();
        this.clusterSize = header.clusterSize();
        this.l2Entries = header.l2Entries();
        this.l1Offset = header.l1Offset();
        this.tableBuffer = ByteBuffer.allocate(clusterSize).order(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * Loads the tables of an image whose header is {@code header}, checking every L1 entry, and
     * rebuilds the allocator from them. Context: the opening thread.
     *
     * @throws IOException naming the image and the entry if a table lies outside the file
     */
    static ThinTables load(Path path, ThinFile file, Header header) throws IOException {
        ThinTables t = new ThinTables(path, file, header);
        t.loadTables();
        return t;
    }

    private void loadTables() throws IOException {
        Header h = header;
        long fileSize = file.size();
        if (h.l1Offset() + (long) h.l1Capacity() * 8 > fileSize) {
            throw new IOException(path + ": L1 table at " + h.l1Offset() + " with " + h.l1Capacity()
                    + " entries runs past the end of the file (" + fileSize + " bytes); 'check -r all' can repair it");
        }
        long fileClusters = align(fileSize) >>> clusterBits;
        if (fileClusters > Integer.MAX_VALUE) {
            throw new IOException(path + ": file too large for " + clusterSize + "-byte clusters");
        }
        BitSet used = new BitSet((int) fileClusters);
        AtomicLongArray meta = new AtomicLongArray((int) ((fileClusters + 63) >>> 6) + 1);
        setBit(meta, 0); // header
        used.set(0);
        for (long c = 0; c < h.l1Clusters(); c++) {
            setBit(meta, (h.l1Offset() >>> clusterBits) + c);
            used.set((int) ((h.l1Offset() >>> clusterBits) + c));
        }
        ByteBuffer raw = ByteBuffer.allocate(h.l1Entries() * 8).order(ByteOrder.LITTLE_ENDIAN);
        file.read(raw, h.l1Offset());
        AtomicLongArray l1Table = new AtomicLongArray(h.l1Capacity());
        AtomicReferenceArray<AtomicLongArray> l2Tables = new AtomicReferenceArray<>(h.l1Capacity());
        long last = fileClusters; // one past the furthest cluster in use
        for (int i = 0; i < h.l1Entries(); i++) {
            long off = raw.getLong(i * 8);
            l1Table.set(i, off);
            if (off == 0) {
                continue;
            }
            if ((off & (clusterSize - 1)) != 0 || off + clusterSize > fileSize) {
                throw new IOException(path + ": L1 entry " + i + " points at " + off + ", outside the file or unaligned");
            }
            setBit(meta, off >>> clusterBits);
            used.set((int) (off >>> clusterBits));
            file.read(tableBuffer.clear(), off);
            AtomicLongArray t = new AtomicLongArray(l2Entries);
            for (int j = 0; j < l2Entries; j++) {
                long e = tableBuffer.getLong(j * 8);
                t.set(j, e);
                long c = hostOffset(e) >>> clusterBits;
                if (c != 0) {
                    if (c < fileClusters) {
                        used.set((int) c);
                    } else {
                        last = Math.max(last, c + 1); // past the end of the file: keep it from being handed out
                    }
                }
            }
            l2Tables.set(i, t);
        }
        this.l1 = l1Table;
        this.l2 = l2Tables;
        this.metadata = meta;
        free.set(0, (int) fileClusters);
        free.andNot(used);
        this.end = last << clusterBits;
    }

    Header header() {
        return header;
    }

    long align(long n) {
        return (n + clusterSize - 1) & ~((long) clusterSize - 1);
    }

    /** The L2 entry of virtual cluster {@code vc}, 0 when unmapped. Context: any thread. */
    long entry(long vc) {
        int i = (int) (vc / l2Entries);
        AtomicReferenceArray<AtomicLongArray> tables = l2;
        if (i >= tables.length()) {
            return 0;
        }
        AtomicLongArray t = tables.get(i);
        return t == null ? 0 : t.get((int) (vc % l2Entries));
    }

    /**
     * The first virtual cluster at or after {@code vc} whose L2 table exists (the tools skip the
     * unmapped rest of a huge image this way), or {@code Long.MAX_VALUE}. Context: any thread.
     */
    long nextMapped(long vc) {
        AtomicReferenceArray<AtomicLongArray> tables = l2;
        for (long i = vc / l2Entries; i < tables.length(); i++) {
            if (tables.get((int) i) != null) {
                return Math.max(vc, i * l2Entries);
            }
        }
        return Long.MAX_VALUE;
    }

    /** Whether {@code e} maps a host cluster holding the data (not a zero cluster, not unmapped). */
    static boolean plainAllocated(long e) {
        return (e & ThinFormat.OFFSET_MASK) != 0 && (e & ThinFormat.ZERO_FLAG) == 0;
    }

    static long hostOffset(long e) {
        return e & ThinFormat.OFFSET_MASK;
    }

    static boolean zero(long e) {
        return (e & ThinFormat.ZERO_FLAG) != 0;
    }

    /** What metadata the host cluster at {@code hostOffset} holds, or null if none. Context: any thread. */
    String metadataAt(long hostOffset) {
        long c = hostOffset >>> clusterBits;
        if (!isMetadata(c)) {
            return null;
        }
        long l1c = header.l1Offset() >>> clusterBits;
        return c == 0 ? "header" : c >= l1c && c < l1c + header.l1Clusters() ? "L1 table" : "an L2 table";
    }

    private boolean isMetadata(long cluster) {
        AtomicLongArray m = metadata;
        long word = cluster >>> 6;
        return word < m.length() && (m.get((int) word) & (1L << cluster)) != 0;
    }

    private static void setBit(AtomicLongArray m, long cluster) {
        int w = (int) (cluster >>> 6);
        m.set(w, m.get(w) | (1L << cluster));
    }

    boolean corrupt() {
        return corrupt;
    }

    /**
     * Marks the image corrupt, in memory (every later write fails) and in the header, as qcow2
     * does when an overlap check fires. Context: any thread; idempotent.
     */
    synchronized void markCorrupt(String why) {
        if (corrupt) {
            return;
        }
        corrupt = true;
        System.err.println("thin " + path + ": marking image as corrupt: " + why + "; further corruption events will be suppressed");
        try {
            Header h = header.withFlags(header.flags() | ThinFormat.FLAG_CORRUPT);
            ByteBuffer buf = ByteBuffer.allocate(clusterSize).order(ByteOrder.LITTLE_ENDIAN);
            h.encode(buf);
            file.write(buf, 0);
            file.sync();
        } catch (IOException e) {
            System.err.println("thin " + path + ": could not set the corrupt flag: " + e);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Changes: the metadata holder only.

    /** A host cluster no table on disk references: a free one from open, else one at the end. */
    long allocateCluster() {
        int c = free.nextSetBit(freeCursor);
        if (c >= 0) {
            free.clear(c);
            freeCursor = c + 1;
            return (long) c << clusterBits;
        }
        long off = end;
        end += clusterSize;
        return off;
    }

    /** Sets L2 entry {@code vc} (in memory; on disk at the next {@link #flush}), creating its L2 table if needed. */
    void setEntry(long vc, long value) throws IOException {
        int i = (int) (vc / l2Entries);
        AtomicLongArray t = l2TableFor(i);
        dirtyTables.set(i);
        dirty = true;
        t.set((int) (vc % l2Entries), value); // volatile: readers see the entry after its data is written
    }

    /** Makes sure virtual cluster {@code vc} has an L2 table. */
    void tableFor(long vc) throws IOException {
        l2TableFor((int) (vc / l2Entries));
    }

    /** The L2 table for L1 index {@code i}, allocating one if needed (zeroed on disk now, linked at flush). */
    private AtomicLongArray l2TableFor(int i) throws IOException {
        AtomicLongArray t = l2.get(i);
        if (t != null) {
            return t;
        }
        long off = allocateCluster();
        markMetadata(off);
        java.util.Arrays.fill(tableBuffer.array(), (byte) 0);
        file.write(tableBuffer.clear(), off); // zeros now, synced before the L1 entry is written (see flush)
        t = new AtomicLongArray(l2Entries);
        l1.set(i, off);
        l1Dirty = true;
        dirty = true;
        l2.set(i, t);
        return t;
    }

    private void markMetadata(long off) {
        long c = off >>> clusterBits;
        AtomicLongArray m = metadata;
        if ((c >>> 6) >= m.length()) {
            AtomicLongArray grown = new AtomicLongArray((int) Math.max(2L * m.length(), (c >>> 6) + 1));
            for (int w = 0; w < m.length(); w++) {
                grown.set(w, m.get(w));
            }
            metadata = grown; // volatile: readers see every bit set before
            m = grown;
        }
        setBit(m, c);
    }

    /**
     * Writes every dirty table back, ordered as the class comment says: sync (data and fresh L2
     * tables), the L2 tables, the L1 table, sync. With nothing dirty, one sync.
     */
    void flush() throws IOException {
        file.sync();
        if (!dirty) {
            return;
        }
        for (int i = dirtyTables.nextSetBit(0); i >= 0; i = dirtyTables.nextSetBit(i + 1)) {
            AtomicLongArray t = l2.get(i);
            if (t == null) {
                continue; // dropped by a shrink: its L1 entry is 0 now
            }
            tableBuffer.clear();
            for (int j = 0; j < l2Entries; j++) {
                tableBuffer.putLong(j * 8, t.get(j));
            }
            file.write(tableBuffer.clear(), l1.get(i));
        }
        if (l1Dirty) {
            writeL1(l1, Math.max(header.l1Entries(), usedL1Entries()), l1Offset);
        }
        file.sync();
        dirtyTables.clear();
        l1Dirty = false;
        dirty = false;
    }

    /** Whether some table change awaits {@link #flush}. Context: any thread. */
    boolean dirty() {
        return dirty;
    }

    private int usedL1Entries() {
        AtomicLongArray t = l1;
        int n = t.length();
        while (n > 0 && t.get(n - 1) == 0) {
            n--;
        }
        return n;
    }

    private void writeL1(AtomicLongArray table, int entries, long at) throws IOException {
        int perCluster = clusterSize / 8;
        for (int first = 0; first < entries; first += perCluster) {
            int n = Math.min(perCluster, entries - first);
            tableBuffer.clear();
            for (int k = 0; k < n; k++) {
                tableBuffer.putLong(k * 8, table.get(first + k));
            }
            file.write(tableBuffer.clear().limit(n * 8), at + first * 8L);
        }
    }

    /**
     * Changes the virtual size: growing past the L1 capacity moves the table to the end of the
     * file; shrinking forgets every cluster at or past {@code newSize} (its space is free again
     * once the image is reopened). The tables are durable before the header that says the new
     * size. {@code zeroRegrown} then makes the grown range read zeros (see {@link ThinDriver#truncate}).
     * Context: the main loop, nothing in flight.
     */
    void resize(long newSize, ZeroFill zeroRegrown) throws IOException {
        flush();
        Header h = header;
        long entries = h.l1EntriesFor(newSize);
        if (entries > Integer.MAX_VALUE) {
            throw new IOException("size " + newSize + " needs too large an L1 table");
        }
        int capacity = h.l1Capacity();
        if (entries > capacity) {
            long newCapacity = Math.max(entries, 2L * capacity);
            long bytes = align(newCapacity * 8);
            newCapacity = Math.min(Integer.MAX_VALUE, bytes / 8);
            capacity = (int) newCapacity;
            AtomicLongArray oldL1 = l1;
            AtomicLongArray grown = new AtomicLongArray(capacity);
            AtomicReferenceArray<AtomicLongArray> grownL2 = new AtomicReferenceArray<>(capacity);
            for (int i = 0; i < h.l1Entries(); i++) {
                grown.set(i, oldL1.get(i));
                grownL2.set(i, l2.get(i));
            }
            long at = end; // a fresh range at the end: the old table stays intact until the header moves
            end += bytes;
            for (long c = 0; c < bytes / clusterSize; c++) {
                markMetadata(at + c * clusterSize);
            }
            writeL1(grown, capacity, at);
            l1Offset = at;
            l1 = grown;
            l2 = grownL2;
        } else if (newSize < h.size()) {
            dropMappingsFrom(newSize, h);
        }
        if (newSize > h.size()) {
            zeroRegrown.fill(h.size(), newSize);
        }
        flush();
        writeHeader(h.withTables(newSize, l1Offset, (int) entries, capacity));
    }

    /** Makes {@code [from, to)} read zeros (the metadata holder's ThinClusterIo does it). */
    interface ZeroFill {
        void fill(long from, long to) throws IOException;
    }

    private void dropMappingsFrom(long newSize, Header h) {
        long firstGone = (newSize + clusterSize - 1) >>> clusterBits;
        for (int i = 0; i < h.l1Entries(); i++) {
            AtomicLongArray t = l2.get(i);
            if (t == null) {
                continue;
            }
            long base = (long) i * l2Entries;
            if (base >= firstGone) {
                l1.set(i, 0);
                l2.set(i, null);
                l1Dirty = true;
                dirty = true;
                continue;
            }
            for (long vc = Math.max(base, firstGone); vc < base + l2Entries; vc++) {
                int j = (int) (vc - base);
                if (t.get(j) != 0) {
                    t.set(j, 0);
                    dirtyTables.set(i);
                    dirty = true;
                }
            }
        }
    }

    /** Writes {@code next} as the header, durably, after everything it refers to, then publishes it. */
    void writeHeader(Header next) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(clusterSize).order(ByteOrder.LITTLE_ENDIAN);
        next.encode(buf);
        file.sync();
        file.write(buf, 0);
        file.sync();
        header = next;
    }
}
