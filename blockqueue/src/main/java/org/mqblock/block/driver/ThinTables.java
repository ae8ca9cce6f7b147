package org.mqblock.block.driver;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.mqblock.block.driver.ThinFormat.Header;

/**
 * A thin image's metadata in memory: the header, the L1 table and every L2 table (cached whole, 8
 * bytes per cluster), and the host-cluster allocator; and how changes to them reach the file.
 *
 * <p>Context and ownership: {@link #entry} from any thread (lock-free). Everything that changes
 * the tables runs on one thread at a time: a holder of the driver's metadata mutex (a worker
 * thread) or, with no request in flight, the main loop (drained section, or an image tool with no
 * queues attached).
 */
final class ThinTables {

    final Path path;
    final ThinFile file;
    final int clusterBits;
    final int clusterSize;
    final int l2Entries;

    /** Holders of the metadata (see class comment) write; any thread reads (volatile). */
    private volatile Header header;
    /** L1 entries; replaced when the table grows. Elements: holders of the metadata write (volatile). */
    private volatile AtomicLongArray l1;
    /** L2 tables by L1 index (null: none); holders of the metadata publish new tables (volatile). */
    private volatile AtomicReferenceArray<AtomicLongArray> l2;
    /** The next cluster at the end of the file: holders of the metadata only. */
    private long end;
    /** Holders of the metadata only: 8 bytes for an entry, one cluster for a table. */
    private final ByteBuffer scratch8 = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);

    private ThinTables(Path path, ThinFile file, Header header) {
        this.path = path;
        this.file = file;
        this.header = header;
        this.clusterBits = header.clusterBits();
        this.clusterSize = header.clusterSize();
        this.l2Entries = header.l2Entries();
    }

    /**
     * Loads the tables of an image whose header is {@code header}, checking every L1 entry.
     * Context: the opening thread.
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
            throw new IOException(path + ": L1 table at " + h.l1Offset() + " runs past the end of the file");
        }
        ByteBuffer raw = ByteBuffer.allocate(h.l1Capacity() * 8).order(ByteOrder.LITTLE_ENDIAN);
        file.read(raw, h.l1Offset());
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
                file.read(table.clear(), off);
                AtomicLongArray t = new AtomicLongArray(l2Entries);
                for (int j = 0; j < l2Entries; j++) {
                    t.set(j, table.getLong(j * 8));
                }
                l2Tables.set(i, t);
            }
        }
        this.l1 = l1Table;
        this.l2 = l2Tables;
        this.end = align(fileSize);
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

    // ---------------------------------------------------------------------------------------
    // Changes: holders of the metadata only.

    /** A fresh host cluster for data or a table. */
    long allocateCluster() {
        long c = end;
        end += clusterSize;
        return c;
    }

    /** Sets L2 entry {@code vc} (its data already written), creating its L2 table if needed. */
    void setEntry(long vc, long value) throws IOException {
        int i = (int) (vc / l2Entries);
        int j = (int) (vc % l2Entries);
        AtomicLongArray t = l2TableFor(i);
        scratch8.clear();
        scratch8.putLong(0, value);
        file.write(scratch8, l1.get(i) + j * 8L);
        t.set(j, value); // volatile: readers see the entry only with the data and table on disk
    }

    /** The L2 table for L1 index {@code i}, allocating and linking a new one if needed. */
    private AtomicLongArray l2TableFor(int i) throws IOException {
        AtomicLongArray t = l2.get(i);
        if (t != null) {
            return t;
        }
        long off = allocateCluster();
        file.write(ByteBuffer.allocate(clusterSize), off); // an empty table first...
        scratch8.clear();
        scratch8.putLong(0, off);
        file.write(scratch8, header.l1Offset() + i * 8L); // ... then the L1 entry pointing at it
        t = new AtomicLongArray(l2Entries);
        l1.set(i, off);
        l2.set(i, t);
        return t;
    }

    /**
     * Changes the virtual size: growing past the L1 capacity moves the table to the end of the
     * file; shrinking forgets every cluster at or past {@code newSize} (its space leaks until a
     * repair). Context: the main loop, nothing in flight.
     */
    void resize(long newSize) throws IOException {
        Header h = header;
        long entries = h.l1EntriesFor(newSize);
        if (entries > Integer.MAX_VALUE) {
            throw new IOException("size " + newSize + " needs too large an L1 table");
        }
        long l1Offset = h.l1Offset();
        int capacity = h.l1Capacity();
        if (entries > capacity) {
            long newCapacity = Math.max(entries, 2L * capacity);
            long bytes = align(newCapacity * 8);
            newCapacity = Math.min(Integer.MAX_VALUE, bytes / 8);
            ByteBuffer table = ByteBuffer.allocate((int) bytes).order(ByteOrder.LITTLE_ENDIAN);
            AtomicLongArray oldL1 = l1;
            for (int i = 0; i < h.l1Entries(); i++) {
                table.putLong(i * 8, oldL1.get(i));
            }
            l1Offset = end;
            end += bytes;
            file.write(table, l1Offset);
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
        writeHeader(h.withTables(newSize, l1Offset, (int) entries, capacity));
    }

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
                file.write(zero.clear(), h.l1Offset() + i * 8L);
                l1.set(i, 0);
                l2.set(i, null);
                continue;
            }
            for (long vc = Math.max(base, firstGone); vc < base + l2Entries; vc++) {
                int j = (int) (vc - base);
                if (t.get(j) != 0) {
                    file.write(zero.clear(), l1.get(i) + j * 8L);
                    t.set(j, 0);
                }
            }
        }
    }

    /** Writes {@code next} as the header, durably, then publishes it. */
    void writeHeader(Header next) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(clusterSize).order(ByteOrder.LITTLE_ENDIAN);
        next.encode(buf);
        file.sync(); // everything the new header refers to is on disk first
        file.write(buf, 0);
        file.sync();
        header = next;
    }

    /** Makes every completed write and table change durable. */
    void flush() throws IOException {
        file.sync();
    }
}
