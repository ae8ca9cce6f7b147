package org.mqblock.block.driver;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * A {@link ThinFile} that passes everything through and logs each write and each sync, as
 * dm-log-writes does under a file system: replaying a prefix of the log, plus any subset of the
 * writes after its last sync, gives a state the disk may be in after a power loss.
 * Thread-safe (the log is appended under {@code this}).
 */
final class RecordingFile implements ThinFile {

    /**
     * One logged write; {@code epoch} is the number of syncs started before it: it is durable once
     * more than {@code epoch} syncs have completed.
     */
    record Write(long offset, byte[] data, int epoch) {}

    private final ThinFile inner;
    private final List<Write> log = new ArrayList<>();
    private int started;
    private int completed;

    RecordingFile(ThinFile inner) {
        this.inner = inner;
    }

    @Override
    public void read(ByteBuffer dst, long offset) throws IOException {
        inner.read(dst, offset);
    }

    @Override
    public void write(ByteBuffer src, long offset) throws IOException {
        byte[] copy = new byte[src.remaining()];
        src.duplicate().get(copy);
        synchronized (this) {
            log.add(new Write(offset, copy, started)); // logged when issued: it may reach the disk from now on
        }
        inner.write(src, offset);
    }

    @Override
    public void sync() throws IOException {
        int mine;
        synchronized (this) {
            mine = ++started; // a write logged from now on (another thread) belongs to the next epoch
        }
        inner.sync();
        synchronized (this) {
            completed = Math.max(completed, mine);
        }
    }

    /** Syncs completed so far (in the order they started). */
    synchronized int syncs() {
        return completed;
    }

    synchronized List<Write> log() {
        return List.copyOf(log);
    }

    @Override
    public long size() throws IOException {
        return inner.size();
    }

    @Override
    public void truncate(long size) {
        throw new UnsupportedOperationException("the recording layer does not model truncation");
    }

    @Override
    public void close() throws IOException {
        inner.close();
    }
}
