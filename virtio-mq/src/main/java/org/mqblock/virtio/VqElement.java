package org.mqblock.virtio;

import java.nio.ByteBuffer;
import java.util.Arrays;
import org.mqblock.block.IoVector;
import org.mqblock.memory.Dma;
import org.mqblock.memory.DmaMapping;

/**
 * One popped descriptor chain ({@code VirtQueueElement}): its head index and its buffers, mapped
 * for zero-copy access: first the device-readable ("out") segments, then the device-writable
 * ("in") ones. A descriptor may yield more than one mapping where it crosses a RAM chunk.
 *
 * <p>Elements are preallocated per queue slot and reused; the mapping objects grow on demand and
 * stay. Not threadsafe: the element belongs to the queue's context thread from pop to push.
 */
public final class VqElement {

    int head;
    private DmaMapping[] maps = new DmaMapping[4];
    private int count;
    private int outCount;
    private long outBytes;
    private long inBytes;

    /** Descriptor chain head, the id the used ring reports. */
    public int head() {
        return head;
    }

    public int outCount() {
        return outCount;
    }

    public int inCount() {
        return count - outCount;
    }

    /** Bytes the device may read. */
    public long outBytes() {
        return outBytes;
    }

    /** Bytes the device may write. */
    public long inBytes() {
        return inBytes;
    }

    /** Mapping {@code i} of the readable ones, {@code 0 <= i < outCount()}. */
    public DmaMapping out(int i) {
        return maps[i];
    }

    /** Mapping {@code i} of the writable ones, {@code 0 <= i < inCount()}. */
    public DmaMapping in(int i) {
        return maps[outCount + i];
    }

    /** The next free mapping object, for pop to fill. */
    DmaMapping nextMapping(int limit) {
        if (count == limit) {
            throw new VirtioError("descriptor chain needs more than " + limit + " segments");
        }
        if (count == maps.length) {
            maps = Arrays.copyOf(maps, count * 2);
        }
        DmaMapping m = maps[count];
        if (m == null) {
            m = new DmaMapping();
            maps[count] = m;
        }
        return m;
    }

    void added(boolean writable, int length) {
        count++;
        if (writable) {
            inBytes += length;
        } else {
            outCount++;
            outBytes += length;
        }
    }

    /**
     * Unmaps everything; the writable segments report as written (dirty) their first {@code
     * head} bytes and their last {@code tail} bytes (where a device puts its status, as
     * virtio-blk does). A mapping dirty at its end is reported whole: dirty pages may be too
     * many, never too few.
     */
    void unmapAll(Dma dma, long head, int tail) {
        long at = 0; // where mapping i starts in the writable bytes
        long tailFrom = inBytes - tail;
        for (int i = 0; i < count; i++) {
            DmaMapping m = maps[i];
            if (!m.isMapped()) {
                continue;
            }
            int n = 0;
            if (i >= outCount) {
                n = at + m.length() > tailFrom ? m.length() : (int) Math.max(0, Math.min(head - at, m.length()));
                at += m.length();
            }
            dma.unmap(m, m.isWrite() ? n : 0);
        }
        count = 0;
        outCount = 0;
        outBytes = 0;
        inBytes = 0;
    }

    /**
     * Copies {@code len} readable bytes starting at byte {@code from} of the out segments into
     * {@code dst} at 0 (iov_to_buf); returns how many there were.
     */
    int copyOut(long from, ByteBuffer dst, int len) {
        return copy(0, outCount, from, dst, len, true);
    }

    /** Copies {@code len} bytes of {@code src} (from 0) into the in segments from byte {@code from}; returns how many fit. */
    int copyIn(long from, ByteBuffer src, int len) {
        return copy(outCount, count, from, src, len, false);
    }

    private int copy(int first, int end, long from, ByteBuffer buf, int len, boolean out) {
        long skip = from;
        int done = 0;
        for (int i = first; i < end && done < len; i++) {
            DmaMapping m = maps[i];
            if (skip >= m.length()) {
                skip -= m.length();
                continue;
            }
            int n = (int) Math.min(m.length() - skip, len - done);
            int at = m.chunkIndex() + (int) skip;
            if (out) {
                buf.put(done, m.chunkBuffer(), at, n);
            } else {
                m.chunkBuffer().put(at, buf, done, n);
            }
            done += n;
            skip = 0;
        }
        return done;
    }

    /**
     * Adds {@code [from, from + len)} of the out ({@code writable == false}) or in segments to
     * {@code iov} as shared segments (guest RAM), zero-copy.
     */
    void addTo(IoVector iov, boolean writable, long from, long len) {
        int first = writable ? outCount : 0;
        int end = writable ? count : outCount;
        long skip = from;
        long left = len;
        for (int i = first; i < end && left > 0; i++) {
            DmaMapping m = maps[i];
            if (skip >= m.length()) {
                skip -= m.length();
                continue;
            }
            int n = (int) Math.min(m.length() - skip, left);
            iov.addShared(m.chunkBuffer(), m.chunkIndex() + (int) skip, n);
            left -= n;
            skip = 0;
        }
    }

    int segmentCount() {
        return count;
    }

    @Override
    public String toString() {
        return "VqElement[head " + head + ", " + outCount + " out (" + outBytes + " B), " + inCount() + " in ("
                + inBytes + " B)]";
    }
}
