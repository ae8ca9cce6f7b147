package org.mqblock.block.driver;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import org.mqblock.block.driver.ThinFormat.Header;
import org.mqblock.block.driver.ThinImage.Repair;

/**
 * {@code qemu-img check} for thin images (qcow2 keeps it in qcow2-refcount.c, apart from cluster
 * I/O): reads the header and every table from the file, never trusting a size or offset before it
 * is checked against the file, and reports instead of throwing. Every cluster must be used once
 * (header, L1, L2 tables, data); a cluster nothing uses is a leak (waste, no harm).
 *
 * <p>Repair ({@code -r}): {@link Repair#LEAKS} cuts unused clusters off the end of the file (the
 * unused ones inside are free space the allocator takes first on the next open); {@link
 * Repair#ALL} also fixes errors: a table entry pointing outside the file, at metadata or with
 * unknown flags is cleared (that cluster then reads from the backing image, or zeros), a second
 * entry sharing a data cluster gets a copy of its own, a header whose L1 capacity overruns the
 * file is cut back, and the corrupt flag is cleared. Context: the caller's thread, with the image
 * locked against writers (see {@link ThinImage#check}).
 */
final class ThinCheck {

    private final ThinFile file;
    private final String name;
    private final Repair repair;
    private final List<String> errors = new ArrayList<>();
    private int repairedErrors;

    private ThinCheck(ThinFile file, String name, Repair repair) {
        this.file = file;
        this.name = name;
        this.repair = repair;
    }

    static ThinImage.CheckResult run(ThinFile file, String name, Repair repair) throws IOException {
        return new ThinCheck(file, name, repair).run();
    }

    /** Reads and decodes the header; IllegalArgumentException says what is wrong. */
    static Header readHeader(ThinFile file, String what) throws IOException {
        ByteBuffer first = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
        file.read(first, 0);
        first.flip();
        int bits = first.getInt(ThinFormat.CLUSTER_BITS_OFFSET);
        if (bits > ThinFormat.MIN_CLUSTER_BITS && bits <= ThinFormat.MAX_CLUSTER_BITS) {
            ByteBuffer whole = ByteBuffer.allocate(1 << bits).order(ByteOrder.LITTLE_ENDIAN);
            file.read(whole, 0);
            whole.flip();
            return Header.decode(whole, what);
        }
        return Header.decode(first, what);
    }

    private ThinImage.CheckResult run() throws IOException {
        Header h;
        try {
            h = readHeader(file, name);
        } catch (IllegalArgumentException e) {
            return new ThinImage.CheckResult(false, List.of(e.getMessage()), 0, 0, 0, 0);
        }
        int cs = h.clusterSize();
        long fileSize = file.size();
        long clusters = (fileSize + cs - 1) / cs;
        if (clusters > Integer.MAX_VALUE) {
            return new ThinImage.CheckResult(false, List.of(name + ": file of " + fileSize + " bytes has too many clusters to check"), 0, 0, 0, 0);
        }
        if (h.l1Offset() >= fileSize || (fileSize - h.l1Offset()) / 8 < h.l1Entries()) {
            return new ThinImage.CheckResult(false, List.of(name + ": L1 table at " + h.l1Offset() + " with " + h.l1Entries()
                    + " entries runs past the end of the file (" + fileSize + " bytes)"), 0, 0, 0, 0);
        }
        if ((fileSize - h.l1Offset()) / 8 < h.l1Capacity()) {
            error("header: L1 capacity of " + h.l1Capacity() + " entries at " + h.l1Offset()
                    + " runs past the end of the file (" + fileSize + " bytes)");
            if (repair == Repair.ALL) {
                h = h.withTables(h.size(), h.l1Offset(), h.l1Entries(), h.l1Entries());
                writeHeader(h);
                repairedErrors++;
            }
        }
        if (h.corrupt()) {
            error("header: the image is marked corrupt");
        }
        BitSet used = new BitSet((int) clusters);
        used.set(0);
        long l1Cluster = h.l1Offset() / cs;
        for (long c = l1Cluster; c < l1Cluster + h.l1Clusters() && c < clusters; c++) {
            used.set((int) c);
        }
        ByteBuffer l1 = ByteBuffer.allocate(h.l1Entries() * 8).order(ByteOrder.LITTLE_ENDIAN);
        file.read(l1, h.l1Offset());
        checkUnusedL1(h, Math.min(h.l1Capacity(), (fileSize - h.l1Offset()) / 8));
        // Pass 1: the L2 tables, so that data entries pointing at any of them are caught.
        long[] l2Offsets = new long[h.l1Entries()];
        for (int i = 0; i < h.l1Entries(); i++) {
            long off = l1.getLong(i * 8);
            if (off == 0) {
                continue;
            }
            long c = off / cs;
            String why = (off & (cs - 1)) != 0 || off + cs > fileSize ? "unaligned or outside the file"
                    : c == 0 || (c >= l1Cluster && c < l1Cluster + h.l1Clusters()) ? "on the header or L1 table"
                    : used.get((int) c) ? "in a cluster another table uses" : null;
            if (why != null) {
                error("L1 entry " + i + ": L2 table offset " + off + " is " + why);
                if (repair == Repair.ALL) {
                    writeLong(h.l1Offset() + i * 8L, 0);
                    repairedErrors++;
                }
                continue;
            }
            used.set((int) c);
            l2Offsets[i] = off;
        }
        // Pass 2: the data clusters.
        BitSet data = new BitSet((int) clusters);
        ByteBuffer table = ByteBuffer.allocate(cs).order(ByteOrder.LITTLE_ENDIAN);
        long allocated = 0;
        long fileEnd = fileSize;
        for (int i = 0; i < l2Offsets.length; i++) {
            if (l2Offsets[i] == 0) {
                continue;
            }
            file.read(table.clear(), l2Offsets[i]);
            for (int j = 0; j < h.l2Entries(); j++) {
                long e = table.getLong(j * 8);
                long host = e & ThinFormat.OFFSET_MASK;
                if (host == 0 && (e & ~ThinFormat.ZERO_FLAG) == 0) {
                    continue;
                }
                long vc = (long) i * h.l2Entries() + j;
                long c = host / cs;
                String where = "L2 table " + i + " entry " + j + " (virtual cluster " + vc + ", " + Long.toHexString(e) + ")";
                String why = (e & ~ThinFormat.OFFSET_MASK & ~ThinFormat.ZERO_FLAG) != 0 ? "has unknown flags"
                        : (host & (cs - 1)) != 0 || host + cs > fileSize ? "is unaligned or points outside the file"
                        : vc * cs >= h.size() ? "maps a cluster beyond the virtual size"
                        : used.get((int) c) && !data.get((int) c) ? "points at metadata (header, L1 or an L2 table)"
                        : null;
                long l2EntryAt = l2Offsets[i] + j * 8L;
                if (why != null) {
                    error(where + " " + why);
                    if (repair == Repair.ALL) {
                        writeLong(l2EntryAt, 0);
                        repairedErrors++;
                    }
                    continue;
                }
                if (data.get((int) c)) {
                    error(where + " uses cluster " + c + ", which is already in use");
                    if (repair == Repair.ALL) { // a copy of its own: both entries keep what they read now
                        ByteBuffer copy = ByteBuffer.allocate(cs);
                        file.read(copy, host);
                        file.write(copy.flip(), fileEnd);
                        file.sync();
                        writeLong(l2EntryAt, fileEnd | (e & ThinFormat.ZERO_FLAG));
                        fileEnd += cs;
                        repairedErrors++;
                        allocated++;
                    }
                    continue;
                }
                used.set((int) c);
                data.set((int) c);
                allocated++;
            }
        }
        long leaked = clusters - used.cardinality();
        long repairedLeaks = 0;
        if (repair != Repair.NONE && fileEnd == fileSize) {
            long lastUsed = used.length(); // clusters up to the last one in use
            if (lastUsed < clusters) {
                file.sync();
                file.truncate(lastUsed * (long) cs);
                repairedLeaks = clusters - lastUsed;
                leaked -= repairedLeaks;
            }
        }
        if (repair == Repair.ALL && h.corrupt() && errors.size() == repairedErrors + 1) {
            file.sync();
            writeHeader(h.withFlags(h.flags() & ~ThinFormat.FLAG_CORRUPT));
            repairedErrors++;
        }
        if (repair != Repair.NONE) {
            file.sync();
        }
        return new ThinImage.CheckResult(true, List.copyOf(errors), allocated, leaked, repairedErrors, repairedLeaks);
    }

    /** L1 entries past those in use (up to {@code inFile}) must be 0: they are in the table's reserved clusters. */
    private void checkUnusedL1(Header h, long inFile) throws IOException {
        ByteBuffer chunk = ByteBuffer.allocate(h.clusterSize()).order(ByteOrder.LITTLE_ENDIAN);
        for (long i = h.l1Entries(); i < inFile; ) {
            int n = (int) Math.min(chunk.capacity() / 8, inFile - i);
            file.read(chunk.clear().limit(n * 8), h.l1Offset() + i * 8);
            for (int k = 0; k < n; k++) {
                if (chunk.getLong(k * 8) != 0) {
                    error("L1 entry " + (i + k) + " is set but beyond the " + h.l1Entries() + " entries in use");
                    if (repair == Repair.ALL) {
                        writeLong(h.l1Offset() + (i + k) * 8, 0);
                        repairedErrors++;
                    }
                }
            }
            i += n;
        }
    }

    private void error(String message) {
        errors.add(message);
    }

    private void writeLong(long offset, long value) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, value);
        file.write(b, offset);
    }

    private void writeHeader(Header h) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(h.clusterSize()).order(ByteOrder.LITTLE_ENDIAN);
        h.encode(buf);
        file.sync();
        file.write(buf, 0);
        file.sync();
    }
}
