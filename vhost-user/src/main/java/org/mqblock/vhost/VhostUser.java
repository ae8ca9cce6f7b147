package org.mqblock.vhost;

/**
 * The vhost-user protocol's numbers (QEMU's docs/interop/vhost-user.rst), in one place: request
 * codes both ways, header flags, protocol feature bits and the limits a backend enforces.
 *
 * <pre>
 * header (12 bytes, little-endian): 0 u32 request   4 u32 flags   8 u32 size (of the payload)
 * flags: bits 0-1 version (1)   bit 2 REPLY   bit 3 NEED_REPLY
 * </pre>
 *
 * Fds (memfds for guest RAM, eventfds for kick, call and err) travel as SCM_RIGHTS ancillary data
 * with the message's first bytes.
 */
public final class VhostUser {

    // Front-end to backend requests.
    public static final int GET_FEATURES = 1;
    public static final int SET_FEATURES = 2;
    public static final int SET_OWNER = 3;
    public static final int RESET_OWNER = 4;
    public static final int SET_MEM_TABLE = 5;
    public static final int SET_LOG_BASE = 6;
    public static final int SET_LOG_FD = 7;
    public static final int SET_VRING_NUM = 8;
    public static final int SET_VRING_ADDR = 9;
    public static final int SET_VRING_BASE = 10;
    public static final int GET_VRING_BASE = 11;
    public static final int SET_VRING_KICK = 12;
    public static final int SET_VRING_CALL = 13;
    public static final int SET_VRING_ERR = 14;
    public static final int GET_PROTOCOL_FEATURES = 15;
    public static final int SET_PROTOCOL_FEATURES = 16;
    public static final int GET_QUEUE_NUM = 17;
    public static final int SET_VRING_ENABLE = 18;
    public static final int SEND_RARP = 19;
    public static final int NET_SET_MTU = 20;
    public static final int SET_BACKEND_REQ_FD = 21;
    public static final int IOTLB_MSG = 22;
    public static final int SET_VRING_ENDIAN = 23;
    public static final int GET_CONFIG = 24;
    public static final int SET_CONFIG = 25;
    public static final int POSTCOPY_ADVISE = 28;
    public static final int POSTCOPY_LISTEN = 29;
    public static final int POSTCOPY_END = 30;
    public static final int GET_INFLIGHT_FD = 31;
    public static final int SET_INFLIGHT_FD = 32;
    public static final int RESET_DEVICE = 34;
    public static final int VRING_KICK = 35;
    public static final int GET_MAX_MEM_SLOTS = 36;
    public static final int ADD_MEM_REG = 37;
    public static final int REM_MEM_REG = 38;
    public static final int SET_STATUS = 39;
    public static final int GET_STATUS = 40;

    // Backend to front-end requests (on the channel SET_BACKEND_REQ_FD hands over).
    public static final int BACKEND_IOTLB_MSG = 1;
    public static final int BACKEND_CONFIG_CHANGE_MSG = 2;
    public static final int BACKEND_VRING_HOST_NOTIFIER_MSG = 3;

    // Header.
    public static final int HEADER_SIZE = 12;
    public static final int HEADER_REQUEST = 0;
    public static final int HEADER_FLAGS = 4;
    public static final int HEADER_SIZE_FIELD = 8;
    public static final int VERSION = 0x1;
    public static final int VERSION_MASK = 0x3;
    public static final int FLAG_REPLY = 0x4;
    public static final int FLAG_NEED_REPLY = 0x8;

    /** Virtio feature bit 30: the backend speaks GET/SET_PROTOCOL_FEATURES. */
    public static final int F_PROTOCOL_FEATURES = 30;
    /** Virtio feature bit 26 (vhost's VHOST_F_LOG_ALL): dirty logging for migration. */
    public static final int F_LOG_ALL = 26;

    // Protocol feature bits.
    public static final int PF_MQ = 0;
    public static final int PF_LOG_SHMFD = 1;
    public static final int PF_RARP = 2;
    public static final int PF_REPLY_ACK = 3;
    public static final int PF_MTU = 4;
    public static final int PF_BACKEND_REQ = 5;
    public static final int PF_CROSS_ENDIAN = 6;
    public static final int PF_CRYPTO_SESSION = 7;
    public static final int PF_PAGEFAULT = 8;
    public static final int PF_CONFIG = 9;
    public static final int PF_BACKEND_SEND_FD = 10;
    public static final int PF_HOST_NOTIFIER = 11;
    public static final int PF_INFLIGHT_SHMFD = 12;
    public static final int PF_RESET_DEVICE = 13;
    public static final int PF_INBAND_NOTIFICATIONS = 14;
    public static final int PF_CONFIGURE_MEM_SLOTS = 15;
    public static final int PF_STATUS = 16;

    /** Regions one SET_MEM_TABLE may carry (VHOST_MEMORY_BASELINE_NREGIONS), each with its fd. */
    public static final int MAX_REGIONS = 8;
    /** The most fds any message carries: one per region. */
    public static final int MAX_FDS = MAX_REGIONS;
    /** The largest config space GET/SET_CONFIG moves (VHOST_USER_MAX_CONFIG_SIZE). */
    public static final int MAX_CONFIG_SIZE = 256;
    /** The largest payload any request has (SET_CONFIG's header plus a full config). */
    public static final int MAX_PAYLOAD = 12 + MAX_CONFIG_SIZE;

    /** SET_VRING_KICK/CALL/ERR payload: the queue index in bits 0-7 ... */
    public static final long VRING_IDX_MASK = 0xff;
    /** ... and bit 8 set when no fd comes with it (the queue is polled instead). */
    public static final long VRING_NOFD_MASK = 0x100;

    // Payload layouts (offsets in bytes).
    /** u64 payload: features, protocol features, queue count, the KICK/CALL/ERR word, a REPLY_ACK status. */
    public static final int U64_SIZE = 8;
    /** vring state: u32 index, u32 num (SET_VRING_NUM/BASE, GET_VRING_BASE, SET_VRING_ENABLE). */
    public static final int STATE_INDEX = 0;
    public static final int STATE_NUM = 4;
    public static final int STATE_SIZE = 8;
    /** vring address: u32 index, u32 flags, u64 desc, used, avail, log (front-end virtual addresses). */
    public static final int ADDR_INDEX = 0;
    public static final int ADDR_FLAGS = 4;
    public static final int ADDR_DESC = 8;
    public static final int ADDR_USED = 16;
    public static final int ADDR_AVAIL = 24;
    public static final int ADDR_LOG = 32;
    public static final int ADDR_SIZE = 40;
    /** vring address flag: log writes to the used ring at {@code log}. */
    public static final int ADDR_F_LOG = 0x1;
    /** memory table: u32 nregions, u32 padding, then regions. */
    public static final int MEM_NREGIONS = 0;
    public static final int MEM_REGIONS = 8;
    /** region: u64 guest physical address, u64 size, u64 front-end virtual address, u64 mmap offset. */
    public static final int REGION_GPA = 0;
    public static final int REGION_SIZE = 8;
    public static final int REGION_UADDR = 16;
    public static final int REGION_MMAP_OFFSET = 24;
    public static final int REGION_BYTES = 32;
    /** ADD/REM_MEM_REG: u64 padding, then one region. */
    public static final int SINGLE_REGION = 8;
    public static final int SINGLE_REGION_SIZE = 8 + REGION_BYTES;
    /** config: u32 offset, u32 size, u32 flags, then the bytes. */
    public static final int CONFIG_OFFSET = 0;
    public static final int CONFIG_SIZE = 4;
    public static final int CONFIG_FLAGS = 8;
    public static final int CONFIG_DATA = 12;
    /** inflight: u64 mmap size, u64 mmap offset, u16 queues, u16 queue size. */
    public static final int INFLIGHT_MMAP_SIZE = 0;
    public static final int INFLIGHT_MMAP_OFFSET = 8;
    public static final int INFLIGHT_NUM_QUEUES = 16;
    public static final int INFLIGHT_QUEUE_SIZE = 18;
    public static final int INFLIGHT_SIZE = 20;

    private VhostUser() {}

    /** The memory table's payload size for {@code n} regions. */
    public static int memTableSize(int n) {
        return MEM_REGIONS + REGION_BYTES * n;
    }

    public static long bit(int b) {
        return 1L << b;
    }

    public static boolean has(long features, int b) {
        return (features & (1L << b)) != 0;
    }

    /** The request's name as vhost-user.rst spells it, or its number. */
    public static String name(int request) {
        return switch (request) {
            case GET_FEATURES -> "GET_FEATURES";
            case SET_FEATURES -> "SET_FEATURES";
            case SET_OWNER -> "SET_OWNER";
            case RESET_OWNER -> "RESET_OWNER";
            case SET_MEM_TABLE -> "SET_MEM_TABLE";
            case SET_LOG_BASE -> "SET_LOG_BASE";
            case SET_LOG_FD -> "SET_LOG_FD";
            case SET_VRING_NUM -> "SET_VRING_NUM";
            case SET_VRING_ADDR -> "SET_VRING_ADDR";
            case SET_VRING_BASE -> "SET_VRING_BASE";
            case GET_VRING_BASE -> "GET_VRING_BASE";
            case SET_VRING_KICK -> "SET_VRING_KICK";
            case SET_VRING_CALL -> "SET_VRING_CALL";
            case SET_VRING_ERR -> "SET_VRING_ERR";
            case GET_PROTOCOL_FEATURES -> "GET_PROTOCOL_FEATURES";
            case SET_PROTOCOL_FEATURES -> "SET_PROTOCOL_FEATURES";
            case GET_QUEUE_NUM -> "GET_QUEUE_NUM";
            case SET_VRING_ENABLE -> "SET_VRING_ENABLE";
            case SEND_RARP -> "SEND_RARP";
            case NET_SET_MTU -> "NET_SET_MTU";
            case SET_BACKEND_REQ_FD -> "SET_BACKEND_REQ_FD";
            case IOTLB_MSG -> "IOTLB_MSG";
            case SET_VRING_ENDIAN -> "SET_VRING_ENDIAN";
            case GET_CONFIG -> "GET_CONFIG";
            case SET_CONFIG -> "SET_CONFIG";
            case POSTCOPY_ADVISE -> "POSTCOPY_ADVISE";
            case POSTCOPY_LISTEN -> "POSTCOPY_LISTEN";
            case POSTCOPY_END -> "POSTCOPY_END";
            case GET_INFLIGHT_FD -> "GET_INFLIGHT_FD";
            case SET_INFLIGHT_FD -> "SET_INFLIGHT_FD";
            case RESET_DEVICE -> "RESET_DEVICE";
            case VRING_KICK -> "VRING_KICK";
            case GET_MAX_MEM_SLOTS -> "GET_MAX_MEM_SLOTS";
            case ADD_MEM_REG -> "ADD_MEM_REG";
            case REM_MEM_REG -> "REM_MEM_REG";
            case SET_STATUS -> "SET_STATUS";
            case GET_STATUS -> "GET_STATUS";
            default -> "request " + Integer.toUnsignedString(request);
        };
    }

    /**
     * Whether the backend answers {@code request} with a message of its own (GET_* requests),
     * whatever NEED_REPLY says; for the others a reply is sent only for NEED_REPLY with
     * REPLY_ACK negotiated.
     */
    public static boolean hasReply(int request) {
        return switch (request) {
            case GET_FEATURES, GET_PROTOCOL_FEATURES, GET_VRING_BASE, GET_QUEUE_NUM, GET_CONFIG, GET_INFLIGHT_FD,
                 GET_MAX_MEM_SLOTS, GET_STATUS, POSTCOPY_ADVISE -> true;
            default -> false;
        };
    }
}
