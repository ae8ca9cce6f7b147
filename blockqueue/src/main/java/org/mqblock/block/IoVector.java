package org.mqblock.block;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * A scatter-gather list ({@code QEMUIOVector}): segments, each a byte range of a {@link
 * ByteBuffer}. Preallocate one per request slot and refill it; adding segments allocates nothing
 * once the vector has grown to the largest request it carries.
 *
 * <p>Two kinds of segment:
 * <ul>
 *   <li>{@link #add(ByteBuffer) owned}: the buffer's {@code [position, limit)}, a buffer that
 *       belongs to the request while it is in flight. A driver may move its position and limit (a
 *       {@code FileChannel} transfer does, zero-copy) and puts them back before completing.
 *   <li>{@link #addShared shared}: a range of a buffer other threads use at the same time (guest
 *       RAM mapped once for every queue). Only absolute accesses touch it; a driver that needs a
 *       position goes through a bounce buffer.
 * </ul>
 * The copy helpers here use absolute accesses only, so they work on both kinds.
 */
public final class IoVector {

    private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(64 * 1024).asReadOnlyBuffer();

    private ByteBuffer[] buffers;
    private int[] indexes;
    private int[] lengths;
    private boolean[] owned;
    private int count;
    private long size;

    /** A vector with room for {@code segments} segments before it grows. */
    public IoVector(int segments) {
        if (segments < 1) {
            throw new IllegalArgumentException("segments must be >= 1, got " + segments);
        }
        buffers = new ByteBuffer[segments];
        indexes = new int[segments];
        lengths = new int[segments];
        owned = new boolean[segments];
    }

    /** A one-segment vector over {@code buf}'s {@code [position, limit)}. */
    public static IoVector of(ByteBuffer buf) {
        return new IoVector(1).add(buf);
    }

    /** Empties the vector (the buffers are not touched). */
    public IoVector clear() {
        Arrays.fill(buffers, 0, count, null);
        count = 0;
        size = 0;
        return this;
    }

    /** Appends {@code buf}'s {@code [position, limit)} as an owned segment. */
    public IoVector add(ByteBuffer buf) {
        return add(buf, buf.position(), buf.remaining(), true);
    }

    /** Appends {@code [index, index + length)} of {@code base}, a buffer other threads share. */
    public IoVector addShared(ByteBuffer base, int index, int length) {
        if (index < 0 || length < 0 || index > base.capacity() - length) {
            throw new IndexOutOfBoundsException("segment [" + index + ", +" + length + ") of a "
                    + base.capacity() + "-byte buffer");
        }
        return add(base, index, length, false);
    }

    private IoVector add(ByteBuffer buf, int index, int length, boolean isOwned) {
        if (count == buffers.length) {
            int n = count * 2;
            buffers = Arrays.copyOf(buffers, n);
            indexes = Arrays.copyOf(indexes, n);
            lengths = Arrays.copyOf(lengths, n);
            owned = Arrays.copyOf(owned, n);
        }
        buffers[count] = buf;
        indexes[count] = index;
        lengths[count] = length;
        owned[count] = isOwned;
        count++;
        size += length;
        return this;
    }

    public int count() {
        return count;
    }

    /** Total bytes over all segments. */
    public long size() {
        return size;
    }

    /** The buffer of segment {@code i}. */
    public ByteBuffer buffer(int i) {
        check(i);
        return buffers[i];
    }

    /** Where segment {@code i} starts in its buffer. */
    public int index(int i) {
        check(i);
        return indexes[i];
    }

    public int length(int i) {
        check(i);
        return lengths[i];
    }

    /** Whether segment {@code i} belongs to the request (a driver may use its position). */
    public boolean isOwned(int i) {
        check(i);
        return owned[i];
    }

    private void check(int i) {
        if (i >= count) {
            throw new IndexOutOfBoundsException("segment " + i + " of " + count);
        }
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
            int segLen = lengths[i];
            if (skip >= segLen) {
                skip -= segLen;
                continue;
            }
            int n = (int) Math.min(segLen - skip, length - done);
            int at = indexes[i] + (int) skip;
            if (out) {
                other.put(otherIndex + done, buffers[i], at, n);
            } else {
                buffers[i].put(at, other, otherIndex + done, n);
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
