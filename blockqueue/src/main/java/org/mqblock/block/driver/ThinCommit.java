package org.mqblock.block.driver;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * {@code qemu-img commit}: copies the clusters an overlay holds into its backing image, makes them
 * durable there, and only then empties the overlay (so a crash leaves the data in one place or
 * both, never in neither). Context: the caller's thread, both images open for writing and serving
 * no queues.
 */
final class ThinCommit {

    /** Where the data goes: a write into the backing image. */
    interface Sink {
        void write(ByteBuffer src, long offset) throws IOException;
    }

    /** Something that makes the backing image's writes durable. */
    interface Sync {
        void run() throws IOException;
    }

    private ThinCommit() {}

    static long run(ThinDriver top, long baseLength, Sink sink, Sync sync) throws IOException {
        ThinTables t = top.tables();
        int cs = t.clusterSize;
        long clusters = (top.length() + cs - 1) >>> t.clusterBits;
        ThinClusterIo io = new ThinClusterIo(t, null); // only this layer's clusters are read
        long committed = 0;
        for (long vc = t.nextMapped(0); vc < clusters; vc = t.nextMapped(vc + 1)) {
            if (t.entry(vc) == 0) {
                continue;
            }
            long pos = vc << t.clusterBits;
            int n = (int) Math.min(cs, top.length() - pos);
            if (pos + n > baseLength) {
                throw new IOException(top.filename() + ": cluster at " + pos + " lies past the end of the backing image ("
                        + baseLength + " bytes); resize the backing image first");
            }
            ByteBuffer buf = io.data(n);
            io.read(pos, buf);
            sink.write(buf.flip(), pos);
            committed += n;
        }
        sync.run();
        for (long vc = t.nextMapped(0); vc < clusters; vc = t.nextMapped(vc + 1)) {
            if (t.entry(vc) != 0) {
                t.setEntry(vc, 0);
            }
        }
        t.flush();
        return committed;
    }
}
