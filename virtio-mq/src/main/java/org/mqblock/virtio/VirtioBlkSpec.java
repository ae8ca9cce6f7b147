package org.mqblock.virtio;

/**
 * virtio-blk's wire formats (VIRTIO 1.x, 5.2): the request header and status, discard and
 * write-zeroes segments, feature bits and the configuration space layout. Little-endian.
 *
 * <pre>
 * request: header (device-readable)  0 u32 type   4 u32 ioprio   8 u64 sector (512-byte units)
 *          data (readable for OUT, writable for IN/GET_ID)
 *          status (device-writable, the last byte)  u8 OK | IOERR | UNSUPP
 * discard / write-zeroes data: segments of 16 bytes  0 u64 sector  8 u32 num_sectors  12 u32 flags (UNMAP)
 * config:  0 u64 capacity (sectors)   8 u32 size_max   12 u32 seg_max   20 u32 blk_size
 *          34 u16 num_queues   36 u32 max_discard_sectors   40 u32 max_discard_seg
 *          44 u32 discard_sector_alignment   48 u32 max_write_zeroes_sectors
 *          52 u32 max_write_zeroes_seg   56 u8 write_zeroes_may_unmap
 * </pre>
 */
public final class VirtioBlkSpec {

    public static final int SECTOR_SHIFT = 9;
    public static final int SECTOR_SIZE = 1 << SECTOR_SHIFT;

    public static final int HEADER_SIZE = 16;
    public static final int HEADER_TYPE = 0;
    public static final int HEADER_IOPRIO = 4;
    public static final int HEADER_SECTOR = 8;

    public static final int T_IN = 0;
    public static final int T_OUT = 1;
    public static final int T_FLUSH = 4;
    public static final int T_GET_ID = 8;
    public static final int T_DISCARD = 11;
    public static final int T_WRITE_ZEROES = 13;

    public static final int S_OK = 0;
    public static final int S_IOERR = 1;
    public static final int S_UNSUPP = 2;

    public static final int ID_BYTES = 20;

    public static final int SEGMENT_SIZE = 16;
    public static final int SEGMENT_SECTOR = 0;
    public static final int SEGMENT_NUM_SECTORS = 8;
    public static final int SEGMENT_FLAGS = 12;
    public static final int SEGMENT_F_UNMAP = 1;

    public static final int F_SIZE_MAX = 1;
    public static final int F_SEG_MAX = 2;
    /** The device is read-only: OUT, DISCARD and WRITE_ZEROES fail. */
    public static final int F_RO = 5;
    public static final int F_BLK_SIZE = 6;
    public static final int F_FLUSH = 9;
    public static final int F_MQ = 12;
    public static final int F_DISCARD = 13;
    public static final int F_WRITE_ZEROES = 14;

    public static final int CONFIG_CAPACITY = 0;
    public static final int CONFIG_SIZE_MAX = 8;
    public static final int CONFIG_SEG_MAX = 12;
    public static final int CONFIG_BLK_SIZE = 20;
    public static final int CONFIG_NUM_QUEUES = 34;
    public static final int CONFIG_MAX_DISCARD_SECTORS = 36;
    public static final int CONFIG_MAX_DISCARD_SEG = 40;
    public static final int CONFIG_DISCARD_ALIGNMENT = 44;
    public static final int CONFIG_MAX_WRITE_ZEROES_SECTORS = 48;
    public static final int CONFIG_MAX_WRITE_ZEROES_SEG = 52;
    public static final int CONFIG_WRITE_ZEROES_MAY_UNMAP = 56;
    public static final int CONFIG_SIZE = 60;

    private VirtioBlkSpec() {}

    public static String typeName(int type) {
        return switch (type) {
            case T_IN -> "IN";
            case T_OUT -> "OUT";
            case T_FLUSH -> "FLUSH";
            case T_GET_ID -> "GET_ID";
            case T_DISCARD -> "DISCARD";
            case T_WRITE_ZEROES -> "WRITE_ZEROES";
            default -> "type " + type;
        };
    }
}
