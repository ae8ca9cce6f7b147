package org.mqblock.block.driver;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.mqblock.block.BlockStatus;
import org.mqblock.block.IoVector;

/**
 * Reads and writes of a thin image cluster by cluster, with the buffers they need: the request
 * path of {@link ThinDriver} (one per worker request, reused) and the image tools (one per call).
 *
 * <p>Context: one thread at a time. Reads and writes to clusters already allocated touch no
 * metadata; whatever allocates or zeroes ({@code locked} calls) must hold the metadata (see
 * {@link ThinTables}).
 */
final class ThinClusterIo {

    /** {@link #write} result: a cluster needs allocating; retry holding the metadata mutex. */
    static final int NEEDS_METADATA = 1;

    private final ThinTables tables;
    private final BlockDriver backing;
    private final int clusterBits;
    private final int clusterSize;
    private final ByteBuffer cluster;
    private ByteBuffer data;

    ThinClusterIo(ThinTables tables, BlockDriver backing) {
        this.tables = tables;
        this.backing = backing;
        this.clusterBits = tables.clusterBits;
        this.clusterSize = tables.clusterSize;
        this.cluster = ByteBuffer.allocateDirect(clusterSize).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** A buffer of {@code len} bytes, reused across calls (grown when needed). */
    ByteBuffer data(int len) {
        if (data == null || data.capacity() < len) {
            data = ByteBuffer.allocateDirect(Math.max(len, clusterSize));
        }
        return data.clear().limit(len);
    }

    /** Reads {@code buf}'s remaining bytes from virtual {@code offset}. Context: any thread. */
    void read(long offset, ByteBuffer buf) throws IOException {
        read(tables, backing, offset, buf);
    }

    /** As {@link #read(long, ByteBuffer)}, without buffers of its own (a backing image's reads). Context: any thread. */
    static void read(ThinTables tables, BlockDriver backing, long offset, ByteBuffer buf) throws IOException {
        int clusterBits = tables.clusterBits;
        int clusterSize = tables.clusterSize;
        int start = buf.position();
        int len = buf.remaining();
        int done = 0;
        while (done < len) {
            long pos = offset + done;
            long vc = pos >>> clusterBits;
            int within = (int) (pos & (clusterSize - 1));
            int n = Math.min(clusterSize - within, len - done);
            buf.limit(start + done + n).position(start + done);
            long e = tables.entry(vc);
            long host = ThinTables.hostOffset(e);
            if (ThinTables.zero(e) || (host == 0 && backing == null)) {
                IoVector.zero(buf, start + done, n);
            } else if (host != 0) {
                tables.file.read(buf, host + within);
            } else {
                backing.readBlocking(pos, buf);
            }
            done += n;
        }
        buf.limit(start + len).position(start + len);
    }

    /**
     * Writes {@code len} bytes of {@code src} (from index 0) at virtual {@code offset}. Without
     * {@code locked} it writes only into allocated clusters and returns {@link #NEEDS_METADATA}
     * at the first that is not (the bytes before it are written; redoing them is harmless).
     */
    int write(long offset, ByteBuffer src, int len, boolean locked) throws IOException {
        requireConsistent();
        int done = 0;
        while (done < len) {
            long pos = offset + done;
            long vc = pos >>> clusterBits;
            int within = (int) (pos & (clusterSize - 1));
            int n = Math.min(clusterSize - within, len - done);
            long e = tables.entry(vc);
            if (ThinTables.plainAllocated(e)) {
                src.limit(done + n).position(done);
                tables.file.write(src, checkedHost(vc, e) + within);
            } else if (!locked) {
                return NEEDS_METADATA;
            } else {
                allocate(vc, e, src, done, within, n);
            }
            done += n;
        }
        return BlockStatus.OK;
    }

    /**
     * Gives virtual cluster {@code vc} a host cluster holding its old content (backing data or
     * zeros) overlaid with {@code n} bytes of {@code src} from {@code srcIndex} at {@code within}
     * (zeros where {@code src} is null). Holders of the metadata only.
     */
    private void allocate(long vc, long e, ByteBuffer src, int srcIndex, int within, int n) throws IOException {
        long host = ThinTables.hostOffset(e);
        cluster.clear();
        if (ThinTables.zero(e) || backing == null) {
            IoVector.zero(cluster, 0, clusterSize);
        } else {
            backing.readBlocking(vc << clusterBits, cluster.duplicate());
        }
        if (src != null) {
            src.limit(srcIndex + n); // the absolute put checks against the limit an earlier cluster narrowed
            cluster.put(within, src, srcIndex, n);
        } else {
            IoVector.zero(cluster, within, n);
        }
        if (host == 0) {
            tables.tableFor(vc); // the table first, so that consecutive data clusters lie side by side
            host = tables.allocateCluster();
        } else {
            checkedHost(vc, e);
        }
        tables.file.write(cluster.clear(), host);
        tables.setEntry(vc, host);
    }

    /** Fails (once marking the image corrupt) a write into metadata: qcow2's overlap check. */
    private long checkedHost(long vc, long e) throws IOException {
        long host = ThinTables.hostOffset(e);
        String what = tables.metadataAt(host);
        if (what != null) {
            String why = "Preventing invalid write on metadata (overlaps with " + what + "): virtual cluster " + vc
                    + " maps to host offset " + host;
            tables.markCorrupt(why);
            throw new IOException(tables.path + ": " + why);
        }
        return host;
    }

    private void requireConsistent() throws IOException {
        if (tables.corrupt()) {
            throw new IOException(tables.path + " is marked corrupt: no more writes until 'check -r all' repairs it");
        }
    }

    /**
     * Write-zeroes ({@code write}) or discard. Write-zeroes makes whole clusters zero clusters,
     * keeping their space (qcow2's zero cluster without MAY_UNMAP), and writes zeros into partial
     * ones. Discard unmaps whole clusters (reading zeros, also over a backing image: a zero
     * cluster without a host cluster), and leaves partial ones alone, as it is advisory. Holders
     * of the metadata only.
     */
    int zeroRange(long offset, long length, boolean write) throws IOException {
        requireConsistent();
        long end = offset + length;
        long pos = offset;
        while (pos < end) {
            long vc = pos >>> clusterBits;
            int within = (int) (pos & (clusterSize - 1));
            int n = (int) Math.min(clusterSize - within, end - pos);
            long e = tables.entry(vc);
            if (n == clusterSize) {
                long host = write ? ThinTables.hostOffset(e) : 0; // a discarded host cluster is free after reopen
                long next = host != 0 || backing != null ? host | ThinFormat.ZERO_FLAG : 0;
                if (next != e) {
                    tables.setEntry(vc, next);
                }
            } else if (write && !ThinTables.zero(e) && (e != 0 || backing != null)) {
                if (ThinTables.plainAllocated(e)) {
                    ByteBuffer z = data(n);
                    IoVector.zero(z, 0, n);
                    tables.file.write(z, checkedHost(vc, e) + within);
                } else {
                    allocate(vc, e, null, 0, within, n);
                }
            }
            pos += n;
        }
        return BlockStatus.OK;
    }
}
