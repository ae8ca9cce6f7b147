package org.mqblock.virtio;

/**
 * The split virtqueue's layout in guest memory (VIRTIO 1.x, 2.7), in one place: every offset,
 * size and flag the device and the guest driver model use. All fields are little-endian.
 *
 * <pre>
 * descriptor table: num x 16 bytes, 16-byte aligned
 *   0 u64 addr   8 u32 len   12 u16 flags (NEXT, WRITE, INDIRECT)   14 u16 next
 * available ring: 6 + 2 num bytes, 2-byte aligned (written by the driver)
 *   0 u16 flags (NO_INTERRUPT)   2 u16 idx   4 u16 ring[num]   4+2num u16 used_event
 * used ring: 6 + 8 num bytes, 4-byte aligned (written by the device)
 *   0 u16 flags (NO_NOTIFY)   2 u16 idx   4 {u32 id, u32 len}[num]   4+8num u16 avail_event
 * </pre>
 *
 * Indices are free-running 16-bit counters; a ring slot is {@code idx mod num}.
 */
public final class Vring {

    public static final int DESC_SIZE = 16;
    public static final int DESC_ADDR = 0;
    public static final int DESC_LEN = 8;
    public static final int DESC_FLAGS = 12;
    public static final int DESC_NEXT = 14;

    /** The chain continues at {@code next}. */
    public static final int DESC_F_NEXT = 1;
    /** The device writes this buffer (else it reads it). */
    public static final int DESC_F_WRITE = 2;
    /** The buffer is a table of descriptors. */
    public static final int DESC_F_INDIRECT = 4;

    public static final int AVAIL_FLAGS = 0;
    public static final int AVAIL_IDX = 2;
    public static final int AVAIL_RING = 4;
    /** Driver to device: do not interrupt me (ignored once EVENT_IDX is negotiated). */
    public static final int AVAIL_F_NO_INTERRUPT = 1;

    public static final int USED_FLAGS = 0;
    public static final int USED_IDX = 2;
    public static final int USED_RING = 4;
    public static final int USED_ELEM_SIZE = 8;
    /** Device to driver: do not kick me (ignored once EVENT_IDX is negotiated). */
    public static final int USED_F_NO_NOTIFY = 1;

    /** Feature bits of the transport. */
    public static final int F_INDIRECT_DESC = 28;
    public static final int F_EVENT_IDX = 29;
    public static final int F_VERSION_1 = 32;

    /** Device status bits (VIRTIO 1.2 2.1), as the device model keeps them. */
    public static final int STATUS_DRIVER_OK = 4;
    public static final int STATUS_FEATURES_OK = 8;
    /** The device hit an error it cannot recover from; the driver must reset it. */
    public static final int STATUS_DEVICE_NEEDS_RESET = 0x40;

    /** The largest queue a split ring may have. */
    public static final int MAX_QUEUE_SIZE = 32768;

    private Vring() {}

    public static long descTableBytes(int num) {
        return (long) DESC_SIZE * num;
    }

    public static long availBytes(int num) {
        return 6 + 2L * num;
    }

    public static long usedBytes(int num) {
        return 6 + (long) USED_ELEM_SIZE * num;
    }

    /** Offset of {@code used_event} in the available ring. */
    public static long usedEventOffset(int num) {
        return AVAIL_RING + 2L * num;
    }

    /** Offset of {@code avail_event} in the used ring. */
    public static long availEventOffset(int num) {
        return USED_RING + (long) USED_ELEM_SIZE * num;
    }

    /**
     * Whether moving an index from {@code oldIdx} to {@code newIdx} crosses {@code eventIdx}, i.e.
     * the other side asked to be notified at a point now passed ({@code vring_need_event}, the
     * EVENT_IDX rule). 16-bit wrap-around arithmetic.
     */
    public static boolean needEvent(int eventIdx, int newIdx, int oldIdx) {
        return ((newIdx - eventIdx - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
    }

    public static boolean has(long features, int bit) {
        return (features & (1L << bit)) != 0;
    }
}
