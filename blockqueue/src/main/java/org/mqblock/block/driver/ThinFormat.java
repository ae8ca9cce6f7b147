package org.mqblock.block.driver;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The on-disk layout of a thin image, in one place (a Descriptor, as Agrona lays out its
 * buffers). Everything is little-endian and cluster-aligned.
 *
 * <pre>
 * cluster 0: header
 *   0  u64  magic "MQBTHIN1"
 *   8  u32  version (1)
 *  12  u32  cluster_bits (12..21: 4 KiB to 2 MiB clusters)
 *  16  u64  virtual size in bytes
 *  24  u64  L1 table offset (cluster-aligned)
 *  32  u32  L1 entries in use
 *  36  u32  L1 capacity in entries (the clusters reserved for the table hold this many)
 *  40  u32  backing file name length in bytes (0: no backing)
 *  44  u32  flags: bit 0 {@link #FLAG_CORRUPT} (metadata found inconsistent: opens only read-only until
 *           {@code check -r all} repairs it); other bits must be 0
 *  512 ...  backing file name, UTF-8, relative to the image's directory unless absolute
 * L1 table: u64 per entry, the offset of an L2 table or 0
 * L2 table: one cluster of u64 entries, the offset of a data cluster, or 0 (unallocated: read the
 *   backing image, or zeros without one), with bit 0 ({@link #ZERO_FLAG}) meaning "reads as zeros"
 *   whether or not a cluster is still allocated behind it
 * </pre>
 *
 * A virtual cluster {@code c} lives at L1 index {@code c / l2Entries}, L2 index
 * {@code c % l2Entries}, where {@code l2Entries = clusterSize / 8}.
 */
final class ThinFormat {

    static final long MAGIC = ByteBuffer.wrap("MQBTHIN1".getBytes(StandardCharsets.US_ASCII))
            .order(ByteOrder.LITTLE_ENDIAN).getLong();
    static final int VERSION = 1;
    static final int MIN_CLUSTER_BITS = 12;
    static final int MAX_CLUSTER_BITS = 21;

    static final int MAGIC_OFFSET = 0;
    static final int VERSION_OFFSET = 8;
    static final int CLUSTER_BITS_OFFSET = 12;
    static final int SIZE_OFFSET = 16;
    static final int L1_OFFSET_OFFSET = 24;
    static final int L1_ENTRIES_OFFSET = 32;
    static final int L1_CAPACITY_OFFSET = 36;
    static final int BACKING_LENGTH_OFFSET = 40;
    static final int FLAGS_OFFSET = 44;
    static final int HEADER_FIELDS_END = 48;
    static final int BACKING_NAME_OFFSET = 512;

    /** Header flag: the image is corrupt (qcow2's incompatible "corrupt" bit). */
    static final int FLAG_CORRUPT = 1;
    static final int KNOWN_FLAGS = FLAG_CORRUPT;

    /** Entry flag: the cluster reads as zeros. */
    static final long ZERO_FLAG = 1;
    /** Mask of an entry's host offset (cluster-aligned, so its low bits carry flags). */
    static final long OFFSET_MASK = ~((1L << MIN_CLUSTER_BITS) - 1);

    /** The decoded header. */
    record Header(int clusterBits, long size, long l1Offset, int l1Entries, int l1Capacity, String backing, int flags) {

        boolean corrupt() {
            return (flags & FLAG_CORRUPT) != 0;
        }

        /** The clusters reserved for the L1 table. */
        long l1Clusters() {
            return Math.max(1, ((long) l1Capacity * 8 + clusterSize() - 1) >>> clusterBits);
        }

        int clusterSize() {
            return 1 << clusterBits;
        }

        int l2Entries() {
            return clusterSize() / 8;
        }

        void encode(ByteBuffer buf) {
            if (buf.order() != ByteOrder.LITTLE_ENDIAN || buf.capacity() < clusterSize()) {
                throw new IllegalArgumentException("header buffer must be little-endian and one cluster long");
            }
            byte[] name = backing == null ? new byte[0] : backing.getBytes(StandardCharsets.UTF_8);
            if (BACKING_NAME_OFFSET + name.length > clusterSize()) {
                throw new IllegalArgumentException("backing file name too long for a " + clusterSize() + "-byte header");
            }
            for (int i = 0; i < clusterSize(); i += 8) {
                buf.putLong(i, 0);
            }
            buf.putLong(MAGIC_OFFSET, MAGIC);
            buf.putInt(VERSION_OFFSET, VERSION);
            buf.putInt(CLUSTER_BITS_OFFSET, clusterBits);
            buf.putLong(SIZE_OFFSET, size);
            buf.putLong(L1_OFFSET_OFFSET, l1Offset);
            buf.putInt(L1_ENTRIES_OFFSET, l1Entries);
            buf.putInt(L1_CAPACITY_OFFSET, l1Capacity);
            buf.putInt(BACKING_LENGTH_OFFSET, name.length);
            buf.put(BACKING_NAME_OFFSET, name);
            buf.putInt(FLAGS_OFFSET, flags);
        }

        /**
         * Decodes and checks a header read from the first bytes of a file.
         *
         * @throws IllegalArgumentException saying which field is wrong
         */
        static Header decode(ByteBuffer buf, String what) {
            buf.order(ByteOrder.LITTLE_ENDIAN);
            if (buf.limit() < HEADER_FIELDS_END || buf.getLong(MAGIC_OFFSET) != MAGIC) {
                throw new IllegalArgumentException(what + " is not a thin image (bad magic)");
            }
            int version = buf.getInt(VERSION_OFFSET);
            if (version != VERSION) {
                throw new IllegalArgumentException(what + ": unsupported thin image version " + version);
            }
            int bits = buf.getInt(CLUSTER_BITS_OFFSET);
            if (bits < MIN_CLUSTER_BITS || bits > MAX_CLUSTER_BITS) {
                throw new IllegalArgumentException(what + ": cluster_bits " + bits + " outside ["
                        + MIN_CLUSTER_BITS + ", " + MAX_CLUSTER_BITS + "]");
            }
            long size = buf.getLong(SIZE_OFFSET);
            long l1Offset = buf.getLong(L1_OFFSET_OFFSET);
            int l1Entries = buf.getInt(L1_ENTRIES_OFFSET);
            int l1Capacity = buf.getInt(L1_CAPACITY_OFFSET);
            int nameLength = buf.getInt(BACKING_LENGTH_OFFSET);
            int flags = buf.getInt(FLAGS_OFFSET);
            if ((flags & ~KNOWN_FLAGS) != 0) {
                throw new IllegalArgumentException(what + ": unknown header flags 0x" + Integer.toHexString(flags));
            }
            if (size < 0 || l1Entries < 0 || l1Capacity < l1Entries || (l1Offset & ((1L << bits) - 1)) != 0 || l1Offset <= 0) {
                throw new IllegalArgumentException(what + ": inconsistent header (size " + size + ", L1 at " + l1Offset
                        + ", " + l1Entries + "/" + l1Capacity + " entries)");
            }
            if (nameLength < 0 || BACKING_NAME_OFFSET + (long) nameLength > Math.min(1 << bits, buf.limit())) {
                throw new IllegalArgumentException(what + ": bad backing file name length " + nameLength);
            }
            String backing = null;
            if (nameLength > 0) {
                byte[] name = new byte[nameLength];
                buf.get(BACKING_NAME_OFFSET, name);
                backing = new String(name, StandardCharsets.UTF_8);
            }
            Header h = new Header(bits, size, l1Offset, l1Entries, l1Capacity, backing, flags);
            if (h.l1EntriesFor(size) > l1Entries) {
                throw new IllegalArgumentException(what + ": L1 table of " + l1Entries + " entries cannot map " + size + " bytes");
            }
            return h;
        }

        /** L1 entries needed to map {@code virtualSize} bytes. */
        long l1EntriesFor(long virtualSize) {
            long clusters = (virtualSize + clusterSize() - 1) >>> clusterBits;
            return (clusters + l2Entries() - 1) / l2Entries();
        }

        Header withTables(long newSize, long newL1Offset, int newL1Entries, int newL1Capacity) {
            return new Header(clusterBits, newSize, newL1Offset, newL1Entries, newL1Capacity, backing, flags);
        }

        Header withBacking(String newBacking) {
            return new Header(clusterBits, size, l1Offset, l1Entries, l1Capacity, newBacking, flags);
        }

        Header withFlags(int newFlags) {
            return new Header(clusterBits, size, l1Offset, l1Entries, l1Capacity, backing, newFlags);
        }
    }

    private ThinFormat() {}
}
