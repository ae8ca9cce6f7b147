package org.mqblock.experiments.job;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * One fio log file of one job ({@code PREFIX_lat.1.log}, ...): entries {@code time (ms since the
 * window began), value, direction (0 read, 1 write), block size[, offset], priority}, in fio 3.33's
 * text format. The job thread appends to a preallocated chunk; a full chunk goes to the main loop,
 * which writes it while the job runs ({@link #drain()}) and hands it back, so a long run neither
 * allocates per request nor holds its log in memory. If the writer falls {@link #MAX_CHUNKS} chunks
 * behind, entries are dropped and counted, not buffered without bound (fio stops logging then).
 *
 * <p>Context: {@link #add} on the job's thread only; {@link #drain}, {@link #close} on the main
 * loop; {@link #close} after that thread was joined.
 */
final class IoLog implements AutoCloseable {

    static final int ENTRY = 5;
    static final int CHUNK_ENTRIES = 4096;
    static final int MAX_CHUNKS = 64;

    final Path path;
    private final boolean withOffset;
    private final BufferedWriter out;
    /** Chunks the job thread filled, oldest first (job thread offers, main loop polls). */
    private final ConcurrentLinkedQueue<long[]> full = new ConcurrentLinkedQueue<>();
    /** Chunks written out, for the job thread to reuse (main loop offers, job thread polls). */
    private final ConcurrentLinkedQueue<long[]> free = new ConcurrentLinkedQueue<>();
    // Job thread only (plain), read by close() after the join.
    private long[] chunk = new long[CHUNK_ENTRIES * ENTRY];
    private int used;
    private int chunks = 1;
    private long dropped;

    IoLog(Path path, boolean withOffset) {
        this.path = path;
        this.withOffset = withOffset;
        try {
            Path dir = path.toAbsolutePath().getParent();
            if (dir != null) {
                Files.createDirectories(dir);
            }
            this.out = Files.newBufferedWriter(path);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the log " + path + ": " + e.getMessage(), e);
        }
    }

    /** Appends one entry. Context: the job's thread. */
    void add(long timeMs, long value, int ddir, long bs, long offset) {
        if (chunk == null && (chunk = nextChunk()) == null) {
            dropped++;
            return;
        }
        long[] c = chunk;
        int i = used * ENTRY;
        c[i] = timeMs;
        c[i + 1] = value;
        c[i + 2] = ddir;
        c[i + 3] = bs;
        c[i + 4] = offset;
        if (++used == CHUNK_ENTRIES) {
            full.offer(c);
            chunk = null;
            used = 0;
        }
    }

    private long[] nextChunk() {
        long[] c = free.poll();
        if (c == null && chunks < MAX_CHUNKS) {
            chunks++;
            c = new long[CHUNK_ENTRIES * ENTRY];
        }
        return c;
    }

    /** Writes the chunks the job has filled so far. Context: the main loop. */
    void drain() {
        for (long[] c; (c = full.poll()) != null; ) {
            write(c, CHUNK_ENTRIES);
            free.offer(c);
        }
    }

    private void write(long[] c, int entries) {
        try {
            StringBuilder b = new StringBuilder(48);
            for (int e = 0; e < entries; e++) {
                int i = e * ENTRY;
                b.setLength(0);
                b.append(c[i]).append(", ").append(c[i + 1]).append(", ").append(c[i + 2]).append(", ").append(c[i + 3]);
                if (withOffset) {
                    b.append(", ").append(c[i + 4]);
                }
                b.append(", 0\n"); // priority: every request has the default one
                out.append(b);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the log " + path + ": " + e.getMessage(), e);
        }
    }

    /** Entries that did not fit while the writer was behind. */
    long dropped() {
        return dropped;
    }

    /** Writes the rest and closes. Context: the main loop, after the job's thread ended. */
    @Override
    public void close() {
        drain();
        if (chunk != null) {
            write(chunk, used);
        }
        try {
            out.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the log " + path + ": " + e.getMessage(), e);
        }
    }

    /** The logs a job writes itself, per request or averaged over its windows; null entries when not asked for. */
    static final class JobSet implements AutoCloseable {
        final IoLog lat;
        final IoLog clat;
        final IoLog slat;
        final IoLog iops;
        final IoLog bw;

        JobSet(JobLogs l, int job) {
            lat = l.lat() == null ? null : new IoLog(Path.of(JobLogs.file(l.lat(), "lat", job)), l.offset());
            clat = l.lat() == null ? null : new IoLog(Path.of(JobLogs.file(l.lat(), "clat", job)), l.offset());
            slat = l.lat() == null ? null : new IoLog(Path.of(JobLogs.file(l.lat(), "slat", job)), l.offset());
            iops = l.iops() == null ? null : new IoLog(Path.of(JobLogs.file(l.iops(), "iops", job)), l.offset());
            bw = l.bw() == null ? null : new IoLog(Path.of(JobLogs.file(l.bw(), "bw", job)), l.offset());
        }

        private IoLog[] all() {
            return new IoLog[] {lat, clat, slat, iops, bw};
        }

        void drain() {
            for (IoLog l : all()) {
                if (l != null) {
                    l.drain();
                }
            }
        }

        long dropped() {
            long n = 0;
            for (IoLog l : all()) {
                n += l == null ? 0 : l.dropped();
            }
            return n;
        }

        @Override
        public void close() {
            ArrayDeque<RuntimeException> errors = new ArrayDeque<>();
            for (IoLog l : all()) {
                try {
                    if (l != null) {
                        l.close();
                    }
                } catch (RuntimeException e) {
                    errors.add(e);
                }
            }
            if (!errors.isEmpty()) {
                throw errors.peek();
            }
        }
    }
}
