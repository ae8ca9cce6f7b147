package org.mqblock.nbd;

import org.mqblock.block.BlockStatus;

/**
 * The NBD wire format (the newstyle fixed protocol of the NBD project's doc/proto.md): magics,
 * option and command numbers, flags, error codes, and the byte offsets of every fixed-size message,
 * all big-endian. One place, so a parser and a test client read the same layout.
 */
public final class NbdProtocol {

    private NbdProtocol() {}

    // ---------------------------------------------------------------------------------------
    // Handshake

    /** "NBDMAGIC", the first 8 bytes the server sends. */
    public static final long NBDMAGIC = 0x4e42444d41474943L;
    /** "IHAVEOPT": newstyle greeting, and the prefix of every client option. */
    public static final long IHAVEOPT = 0x49484156454F5054L;
    /** Prefix of every option reply. */
    public static final long OPT_REPLY_MAGIC = 0x3e889045565a9L;

    /** Greeting: NBDMAGIC(8) IHAVEOPT(8) handshake flags(2). */
    public static final int GREETING_LENGTH = 18;
    public static final int FLAG_FIXED_NEWSTYLE = 1;
    public static final int FLAG_NO_ZEROES = 2;

    /** Client flags, 4 bytes after the greeting. */
    public static final int CLIENT_FLAGS_LENGTH = 4;
    public static final int CLIENT_FLAG_FIXED_NEWSTYLE = 1;
    public static final int CLIENT_FLAG_NO_ZEROES = 2;
    public static final int CLIENT_FLAGS_KNOWN = CLIENT_FLAG_FIXED_NEWSTYLE | CLIENT_FLAG_NO_ZEROES;

    /** Option header: IHAVEOPT(8) option(4) data length(4), then the data. */
    public static final int OPT_HEADER_LENGTH = 16;
    public static final int OPT_OFF_MAGIC = 0;
    public static final int OPT_OFF_OPTION = 8;
    public static final int OPT_OFF_LENGTH = 12;

    /** Option reply header: magic(8) option(4) reply type(4) data length(4). */
    public static final int OPT_REPLY_HEADER_LENGTH = 20;

    /** Export-name reply: size(8) transmission flags(2), then 124 zero bytes unless NO_ZEROES. */
    public static final int EXPORT_NAME_REPLY_LENGTH = 10;
    public static final int EXPORT_NAME_REPLY_ZEROES = 124;

    public static final int OPT_EXPORT_NAME = 1;
    public static final int OPT_ABORT = 2;
    public static final int OPT_LIST = 3;
    public static final int OPT_STARTTLS = 5;
    public static final int OPT_INFO = 6;
    public static final int OPT_GO = 7;
    public static final int OPT_STRUCTURED_REPLY = 8;
    public static final int OPT_LIST_META_CONTEXT = 9;
    public static final int OPT_SET_META_CONTEXT = 10;

    public static final int REP_ACK = 1;
    public static final int REP_SERVER = 2;
    public static final int REP_INFO = 3;
    /** A metadata context: its id(4), then its name. */
    public static final int REP_META_CONTEXT = 4;
    private static final int REP_ERR = 1 << 31;
    public static final int REP_ERR_UNSUP = REP_ERR | 1;
    public static final int REP_ERR_POLICY = REP_ERR | 2;
    public static final int REP_ERR_INVALID = REP_ERR | 3;
    public static final int REP_ERR_UNKNOWN = REP_ERR | 6;
    public static final int REP_ERR_TOO_BIG = REP_ERR | 9;

    public static final int INFO_EXPORT = 0;
    public static final int INFO_NAME = 1;
    public static final int INFO_DESCRIPTION = 2;
    public static final int INFO_BLOCK_SIZE = 3;

    /** The one metadata context served: which ranges hold data, which read as zeros. */
    public static final String META_BASE_ALLOCATION = "base:allocation";
    /** Its id in SET_META_CONTEXT replies and BLOCK_STATUS chunks. */
    public static final int META_ID_BASE_ALLOCATION = 1;
    /** base:allocation flags of an extent. */
    public static final int STATE_HOLE = 1;
    public static final int STATE_ZERO = 2;

    /** Longest string (export name) the protocol allows. */
    public static final int MAX_STRING = 4096;

    // ---------------------------------------------------------------------------------------
    // Transmission

    /** Transmission flags, sent with the export size. */
    public static final int TFLAG_HAS_FLAGS = 1;
    public static final int TFLAG_READ_ONLY = 1 << 1;
    public static final int TFLAG_SEND_FLUSH = 1 << 2;
    public static final int TFLAG_SEND_FUA = 1 << 3;
    public static final int TFLAG_SEND_TRIM = 1 << 5;
    public static final int TFLAG_SEND_WRITE_ZEROES = 1 << 6;
    public static final int TFLAG_SEND_DF = 1 << 7;
    public static final int TFLAG_CAN_MULTI_CONN = 1 << 8;
    public static final int TFLAG_SEND_CACHE = 1 << 10;
    public static final int TFLAG_SEND_FAST_ZERO = 1 << 11;

    public static final int REQUEST_MAGIC = 0x25609513;
    /** Request: magic(4) flags(2) type(2) handle(8) offset(8) length(4). */
    public static final int REQUEST_LENGTH = 28;
    public static final int REQ_OFF_MAGIC = 0;
    public static final int REQ_OFF_FLAGS = 4;
    public static final int REQ_OFF_TYPE = 6;
    public static final int REQ_OFF_HANDLE = 8;
    public static final int REQ_OFF_OFFSET = 16;
    public static final int REQ_OFF_LENGTH = 24;

    public static final int SIMPLE_REPLY_MAGIC = 0x67446698;
    /** Simple reply: magic(4) error(4) handle(8), then the data of a successful read. */
    public static final int SIMPLE_REPLY_LENGTH = 16;
    public static final int REPLY_OFF_MAGIC = 0;
    public static final int REPLY_OFF_ERROR = 4;
    public static final int REPLY_OFF_HANDLE = 8;

    public static final int STRUCTURED_REPLY_MAGIC = 0x668e33ef;
    /** Structured reply chunk: magic(4) flags(2) type(2) handle(8) payload length(4), then the payload. */
    public static final int STRUCTURED_REPLY_LENGTH = 20;
    public static final int CHUNK_OFF_MAGIC = 0;
    public static final int CHUNK_OFF_FLAGS = 4;
    public static final int CHUNK_OFF_TYPE = 6;
    public static final int CHUNK_OFF_HANDLE = 8;
    public static final int CHUNK_OFF_LENGTH = 16;
    /** OFFSET_DATA payload: offset(8), then the data. */
    public static final int CHUNK_OFF_DATA_OFFSET = 20;
    /** ERROR payload: error(4) message length(2), then the message (none here). */
    public static final int CHUNK_OFF_ERROR = 20;
    public static final int CHUNK_OFF_ERROR_MESSAGE_LENGTH = 24;
    public static final int CHUNK_FLAG_DONE = 1;
    public static final int CHUNK_NONE = 0;
    public static final int CHUNK_OFFSET_DATA = 1;
    public static final int CHUNK_BLOCK_STATUS = 5;
    public static final int CHUNK_ERROR = (1 << 15) | 1;
    /** BLOCK_STATUS payload: context id(4), then extents of length(4) flags(4). */
    public static final int CHUNK_OFF_CONTEXT_ID = 20;
    public static final int EXTENT_LENGTH = 8;

    public static final int CMD_READ = 0;
    public static final int CMD_WRITE = 1;
    public static final int CMD_DISC = 2;
    public static final int CMD_FLUSH = 3;
    public static final int CMD_TRIM = 4;
    public static final int CMD_CACHE = 5;
    public static final int CMD_WRITE_ZEROES = 6;
    public static final int CMD_BLOCK_STATUS = 7;

    public static final int CMD_FLAG_FUA = 1;
    public static final int CMD_FLAG_NO_HOLE = 1 << 1;
    /** READ with structured replies: the data in one chunk (always so here). */
    public static final int CMD_FLAG_DF = 1 << 2;
    /** BLOCK_STATUS: one extent is enough. */
    public static final int CMD_FLAG_REQ_ONE = 1 << 3;
    /** WRITE_ZEROES: fail with ENOTSUP rather than be slower than a write. */
    public static final int CMD_FLAG_FAST_ZERO = 1 << 4;

    public static final int EPERM = 1;
    public static final int EIO = 5;
    public static final int ENOMEM = 12;
    public static final int EINVAL = 22;
    public static final int ENOSPC = 28;
    public static final int EOVERFLOW = 75;
    public static final int ENOTSUP = 95;
    public static final int ESHUTDOWN = 108;

    /** Maps a block-layer status (negative errno) to the NBD error a reply carries. */
    public static int errorOf(int status) {
        return switch (status) {
            case BlockStatus.OK -> 0;
            case BlockStatus.EINVAL -> EINVAL;
            case BlockStatus.ENOSPC -> ENOSPC;
            case BlockStatus.ENOTSUP -> ENOTSUP;
            default -> EIO; // EIO, ECANCELED and anything a driver invents
        };
    }

    /** A readable name for a command type, for messages. */
    public static String commandName(int type) {
        return switch (type) {
            case CMD_READ -> "READ";
            case CMD_WRITE -> "WRITE";
            case CMD_DISC -> "DISC";
            case CMD_FLUSH -> "FLUSH";
            case CMD_TRIM -> "TRIM";
            case CMD_CACHE -> "CACHE";
            case CMD_WRITE_ZEROES -> "WRITE_ZEROES";
            case CMD_BLOCK_STATUS -> "BLOCK_STATUS";
            default -> "command " + type;
        };
    }
}
