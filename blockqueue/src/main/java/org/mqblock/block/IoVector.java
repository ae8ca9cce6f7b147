package org.mqblock.block;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * A scatter-gather list ({@code QEMUIOVector}): up to a fixed number of buffer segments, each the
 * {@code [position, limit)} of a {@link ByteBuffer}. Preallocate one per request slot and refill it;
 * adding segments allocates nothing.
 *
 * <p>While a request is in flight its segments belong to the block layer: a driver may move a
 * segment's position (a {@code FileChannel} read does) but puts it back before completing. The copy
 * helpers here use absolute accesses and leave positions alone, so two queues may copy from
 * buffers that share memory without racing on position.
 */
public final class IoVector {

    private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(64 * 1024).asReadOnlyBuffer();

    private final ByteBuffer[] segments;
    private int count;
    private long size;

    public IoVector(int maxSegments) {
        if (maxSegments < 1) {
            throw new IllegalArgumentException("maxSegments must be >= 1, got " + maxSegments);
        }
        segments = new ByteBuffer[maxSegments];
    }

    /** A one-segment vector over {@code buf}'s {@code [position, limit)}. */
    public static IoVector of(ByteBuffer buf) {
        return new IoVector(1).add(buf);
    }

    /** Empties the vector (the buffers are not touched). */
    public IoVector clear() {
        Arrays.fill(segments, 0, count, null);
        count = 0;
        size = 0;
        return this;
    }

    /**
     * Appends {@code buf}'s {@code [position, limit)} as a segment.
     *
     * @throws IllegalStateException when the vector is full
     */
    public IoVector add(ByteBuffer buf) {
        if (count == segments.length) {
            throw new IllegalStateException("IoVector full: " + segments.length + " segments");
        }
        segments[count++] = buf;
        size += buf.remaining();
        return this;
    }

    public int count() {
        return count;
    }

    public ByteBuffer segment(int i) {
        if (i >= count) {
            throw new IndexOutOfBoundsException("segment " + i + " of " + count);
        }
        return segments[i];
    }

    /** Total bytes over all segments. */
    public long size() {
        return size;
    }

    public int capacity() {
        return segments.length;
    }

    /** Copies {@code length} bytes starting at byte {@code from} of the vector into {@code dst} at {@code dstIndex}. */
    public void copyTo(long from, ByteBuffer dst, int dstIndex, int length) {
        copy(from, dst, dstIndex, length, true);
    }

    /** Copies {@code length} bytes from {@code src} at {@code srcIndex} into the vector, starting at its byte {@code from}. */
    public void copyFrom(long from, ByteBuffer src, int srcIndex, int length) {
        copy(from, src, srcIndex, length, false);
    }

    private void copy(long from, ByteBuffer other, int otherIndex, int length, boolean out) {
        long skip = from;
        int done = 0;
        for (int i = 0; i < count && done < length; i++) {
            ByteBuffer seg = segments[i];
            int segLen = seg.remaining();
            if (skip >= segLen) {
                skip -= segLen;
                continue;
            }
            int n = (int) Math.min(segLen - skip, length - done);
            int at = seg.position() + (int) skip;
            if (out) {
                other.put(otherIndex + done, seg, at, n);
            } else {
                seg.put(at, other, otherIndex + done, n);
            }
            done += n;
            skip = 0;
        }
        if (done != length) {
            throw new IndexOutOfBoundsException("IoVector of " + size + " bytes: copied " + done + " of " + length);
        }
    }

    /** Zeroes {@code length} bytes of the vector from its byte {@code from}. */
    public void zero(long from, long length) {
        long done = 0;
        while (done < length) {
            int n = (int) Math.min(ZEROS.capacity(), length - done);
            copyFrom(from + done, ZEROS, 0, n);
            done += n;
        }
    }

    /** Zeroes {@code length} bytes of {@code buf} from {@code index} (absolute). */
    public static void zero(ByteBuffer buf, int index, int length) {
        int done = 0;
        while (done < length) {
            int n = Math.min(ZEROS.capacity(), length - done);
            buf.put(index + done, ZEROS, 0, n);
            done += n;
        }
    }

    @Override
    public String toString() {
        return "IoVector[" + count + " segments, " + size + " bytes]";
    }
}
