package org.mqblock.nbd;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * The newstyle fixed handshake of one connection (QEMU's {@code nbd_negotiate}): the greeting,
 * the client's flags, then option haggling until EXPORT_NAME or GO picks an export and the
 * connection enters transmission.
 *
 * <p>Options: EXPORT_NAME, ABORT, LIST, INFO, GO, STRUCTURED_REPLY, LIST_META_CONTEXT and
 * SET_META_CONTEXT (the one context {@code base:allocation}), and STARTTLS, refused with
 * {@code ERR_POLICY} because no TLS is configured (what qemu-nbd and nbdkit answer then). Anything
 * else gets {@code ERR_UNSUP}. Option data past {@link #MAX_OPTION_DATA} gets {@code ERR_TOO_BIG}
 * and is skipped unread. What cannot be answered (a bad magic, unknown client flags, an unknown
 * export in EXPORT_NAME, more than {@link NbdLimits#maxOptions} options) closes the connection.
 * Each reply is written before the next option is read, so one buffer serves them all.
 *
 * <p>Not threadsafe: the connection's IOThread only.
 */
final class NbdHandshake {

    /** Largest option payload buffered: a meta-context query list with a full-length export name. */
    static final int MAX_OPTION_DATA = 12 << 10;

    private static final int S_FLAGS = 0;   // waiting for the client's 4 flag bytes
    private static final int S_OPTIONS = 1;

    private final NbdConnection conn;
    private final NbdServer server;
    private final int maxOptions;
    /** Replies are built here; it is queued whole and written before the next option is read. */
    private ByteBuffer ctl = ByteBuffer.allocateDirect(4096);

    private int state = S_FLAGS;
    private boolean noZeroes;
    /** Negotiated with OPT_STRUCTURED_REPLY: every reply is one chunk with the DONE flag. */
    private boolean structured;
    private int options;
    /** Bytes of an oversized option still to drop. */
    private long skipLeft;
    /** Set once the handshake has handed over to transmission or is closing. */
    private boolean done;
    /** The export SET_META_CONTEXT chose {@code base:allocation} for, or null. */
    private NbdExport allocationFor;

    NbdHandshake(NbdConnection conn, NbdServer server) {
        this.conn = conn;
        this.server = server;
        this.maxOptions = server.limits().maxOptions();
    }

    void greet() {
        ctl.clear();
        ctl.putLong(NbdProtocol.NBDMAGIC).putLong(NbdProtocol.IHAVEOPT)
                .putShort((short) (NbdProtocol.FLAG_FIXED_NEWSTYLE | NbdProtocol.FLAG_NO_ZEROES));
        send();
    }

    /** Consumes the complete messages in {@code in[rd, end)}; returns where the unconsumed input starts. */
    int parse(ByteBuffer in, int rd, int end) {
        while (!conn.isClosed()) {
            int avail = end - rd;
            if (skipLeft > 0) {
                int n = (int) Math.min(skipLeft, avail);
                rd += n;
                skipLeft -= n;
                if (skipLeft > 0) {
                    return rd;
                }
                continue;
            }
            if (conn.outputPending()) {
                conn.pauseReading(); // the last reply is still going out; resumed when it has
                return rd;
            }
            if (state == S_FLAGS) {
                if (avail < NbdProtocol.CLIENT_FLAGS_LENGTH) {
                    return rd;
                }
                int flags = in.getInt(rd);
                rd += NbdProtocol.CLIENT_FLAGS_LENGTH;
                if ((flags & ~NbdProtocol.CLIENT_FLAGS_KNOWN) != 0) {
                    conn.abort("unknown client flags 0x" + Integer.toHexString(flags));
                    return rd;
                }
                noZeroes = (flags & NbdProtocol.CLIENT_FLAG_NO_ZEROES) != 0;
                state = S_OPTIONS;
                continue;
            }
            int next = option(in, rd, avail);
            if (next == rd) {
                return rd;
            }
            rd = next;
            if (done) {
                return rd; // the rest of the input belongs to transmission
            }
        }
        return rd;
    }

    /** Handles one option if it is complete; returns the input position after it (unchanged: more input needed). */
    private int option(ByteBuffer in, int rd, int avail) {
        if (avail < NbdProtocol.OPT_HEADER_LENGTH) {
            return rd;
        }
        if (in.getLong(rd + NbdProtocol.OPT_OFF_MAGIC) != NbdProtocol.IHAVEOPT) {
            conn.abort("bad option magic");
            return rd + NbdProtocol.OPT_HEADER_LENGTH;
        }
        int option = in.getInt(rd + NbdProtocol.OPT_OFF_OPTION);
        long length = in.getInt(rd + NbdProtocol.OPT_OFF_LENGTH) & 0xffffffffL;
        if (length > MAX_OPTION_DATA) {
            if (!countOption()) {
                return rd + NbdProtocol.OPT_HEADER_LENGTH;
            }
            if (option == NbdProtocol.OPT_EXPORT_NAME) {
                conn.abort("export name of " + length + " bytes"); // this option has no error reply
                return rd + NbdProtocol.OPT_HEADER_LENGTH;
            }
            skipLeft = length;
            ctl.clear();
            error(option, NbdProtocol.REP_ERR_TOO_BIG, "option data of " + length + " bytes is too long");
            send();
            return rd + NbdProtocol.OPT_HEADER_LENGTH;
        }
        if (avail < NbdProtocol.OPT_HEADER_LENGTH + length) {
            return rd;
        }
        if (!countOption()) {
            return rd + NbdProtocol.OPT_HEADER_LENGTH + (int) length;
        }
        int data = rd + NbdProtocol.OPT_HEADER_LENGTH;
        int len = (int) length;
        ctl.clear();
        switch (option) {
            case NbdProtocol.OPT_EXPORT_NAME -> exportName(in, data, len);
            case NbdProtocol.OPT_ABORT -> {
                reply(option, NbdProtocol.REP_ACK, 0);
                conn.clientAborted();
                send();
                done = true;
                conn.closeAfterOutput(); // closes once the ACK is out
            }
            case NbdProtocol.OPT_LIST -> {
                if (len != 0) {
                    error(option, NbdProtocol.REP_ERR_INVALID, "LIST takes no data");
                } else {
                    for (NbdExport e : server.exports()) {
                        byte[] name = e.name().getBytes(StandardCharsets.UTF_8);
                        reply(option, NbdProtocol.REP_SERVER, 4 + name.length);
                        ctl.putInt(name.length).put(name);
                    }
                    reply(option, NbdProtocol.REP_ACK, 0);
                }
            }
            case NbdProtocol.OPT_STARTTLS ->
                    error(option, NbdProtocol.REP_ERR_POLICY, "TLS is not configured on this server");
            case NbdProtocol.OPT_INFO, NbdProtocol.OPT_GO -> infoOrGo(in, option, data, len);
            case NbdProtocol.OPT_STRUCTURED_REPLY -> {
                if (len != 0) {
                    error(option, NbdProtocol.REP_ERR_INVALID, "STRUCTURED_REPLY takes no data");
                } else if (structured) {
                    error(option, NbdProtocol.REP_ERR_INVALID, "structured replies already negotiated");
                } else {
                    structured = true;
                    reply(option, NbdProtocol.REP_ACK, 0);
                }
            }
            case NbdProtocol.OPT_LIST_META_CONTEXT, NbdProtocol.OPT_SET_META_CONTEXT -> metaContext(in, option, data, len);
            default -> error(option, NbdProtocol.REP_ERR_UNSUP, "option " + option + " is not supported");
        }
        if (!done) {
            send();
        }
        return data + len;
    }

    private boolean countOption() {
        if (++options > maxOptions) {
            conn.abort("more than " + maxOptions + " options in the handshake");
            return false;
        }
        return true;
    }

    private void exportName(ByteBuffer in, int data, int len) {
        String name = string(in, data, len);
        NbdExport e = server.export(name);
        if (e == null) {
            conn.abort("unknown export '" + name + "' in EXPORT_NAME");
            done = true;
            return;
        }
        ensure(NbdProtocol.EXPORT_NAME_REPLY_LENGTH + NbdProtocol.EXPORT_NAME_REPLY_ZEROES);
        ctl.putLong(e.size()).putShort((short) transmissionFlags(e));
        if (!noZeroes) {
            ctl.put(new byte[NbdProtocol.EXPORT_NAME_REPLY_ZEROES]);
        }
        send();
        done = true;
        conn.enterTransmission(e, structured, allocationFor == e);
    }

    private void infoOrGo(ByteBuffer in, int option, int data, int len) {
        if (len < 6) {
            error(option, NbdProtocol.REP_ERR_INVALID, "option data too short");
            return;
        }
        long nameLen = in.getInt(data) & 0xffffffffL;
        if (nameLen > len - 6) {
            error(option, NbdProtocol.REP_ERR_INVALID, "name length " + nameLen + " past the option data");
            return;
        }
        String name = string(in, data + 4, (int) nameLen);
        int infosAt = data + 4 + (int) nameLen;
        int infos = in.getShort(infosAt) & 0xffff;
        if (4 + nameLen + 2 + 2L * infos != len) {
            error(option, NbdProtocol.REP_ERR_INVALID, "option length does not match its " + infos + " info requests");
            return;
        }
        NbdExport e = server.export(name);
        if (e == null) {
            error(option, NbdProtocol.REP_ERR_UNKNOWN, "no export named '" + name + "'");
            return;
        }
        boolean wantName = false;
        boolean wantDescription = false;
        for (int i = 0; i < infos; i++) {
            int type = in.getShort(infosAt + 2 + 2 * i) & 0xffff;
            wantName |= type == NbdProtocol.INFO_NAME;
            wantDescription |= type == NbdProtocol.INFO_DESCRIPTION;
        }
        if (wantName) {
            byte[] n = e.name().getBytes(StandardCharsets.UTF_8);
            reply(option, NbdProtocol.REP_INFO, 2 + n.length);
            ctl.putShort((short) NbdProtocol.INFO_NAME).put(n);
        }
        if (wantDescription && !e.description().isEmpty()) {
            byte[] d = e.description().getBytes(StandardCharsets.UTF_8);
            reply(option, NbdProtocol.REP_INFO, 2 + d.length);
            ctl.putShort((short) NbdProtocol.INFO_DESCRIPTION).put(d);
        }
        // Always sent: a client that cannot honour the minimum must not use the export.
        reply(option, NbdProtocol.REP_INFO, 14);
        ctl.putShort((short) NbdProtocol.INFO_BLOCK_SIZE)
                .putInt(e.minBlockSize()).putInt(e.preferredBlockSize()).putInt(e.maxBlockSize());
        reply(option, NbdProtocol.REP_INFO, 12);
        ctl.putShort((short) NbdProtocol.INFO_EXPORT).putLong(e.size()).putShort((short) transmissionFlags(e));
        reply(option, NbdProtocol.REP_ACK, 0);
        if (option == NbdProtocol.OPT_GO) {
            send();
            done = true;
            conn.enterTransmission(e, structured, allocationFor == e);
        }
    }

    /** DF is only offered with structured replies, which it is about. */
    private int transmissionFlags(NbdExport e) {
        return e.transmissionFlags() | (structured ? NbdProtocol.TFLAG_SEND_DF : 0);
    }

    /**
     * LIST_META_CONTEXT and SET_META_CONTEXT: export name(4 + n), query count(4), queries(4 + n
     * each). The one context is {@code base:allocation}; the query {@code base:} lists it too.
     * LIST with no query lists every context; SET selects what it names (nothing else is kept).
     */
    private void metaContext(ByteBuffer in, int option, int data, int len) {
        boolean set = option == NbdProtocol.OPT_SET_META_CONTEXT;
        if (set && !structured) {
            error(option, NbdProtocol.REP_ERR_INVALID, "SET_META_CONTEXT needs structured replies first");
            return;
        }
        int end = data + len;
        if (len < 8) {
            error(option, NbdProtocol.REP_ERR_INVALID, "option data too short");
            return;
        }
        long nameLen = in.getInt(data) & 0xffffffffL;
        if (nameLen > len - 8) {
            error(option, NbdProtocol.REP_ERR_INVALID, "name length " + nameLen + " past the option data");
            return;
        }
        String name = string(in, data + 4, (int) nameLen);
        int at = data + 4 + (int) nameLen;
        long queries = in.getInt(at) & 0xffffffffL;
        at += 4;
        boolean allocation = !set && queries == 0;
        for (long q = 0; q < queries; q++) {
            if (end - at < 4) {
                error(option, NbdProtocol.REP_ERR_INVALID, "query " + q + " past the option data");
                return;
            }
            long qLen = in.getInt(at) & 0xffffffffL;
            if (qLen > end - at - 4) {
                error(option, NbdProtocol.REP_ERR_INVALID, "query " + q + " of " + qLen + " bytes past the option data");
                return;
            }
            String query = string(in, at + 4, (int) qLen);
            at += 4 + (int) qLen;
            allocation |= query.equals(NbdProtocol.META_BASE_ALLOCATION) || !set && query.equals("base:");
        }
        if (at != end) {
            error(option, NbdProtocol.REP_ERR_INVALID, (end - at) + " bytes after the last query");
            return;
        }
        NbdExport e = server.export(name);
        if (e == null) {
            error(option, NbdProtocol.REP_ERR_UNKNOWN, "no export named '" + name + "'");
            return;
        }
        if (set) {
            allocationFor = allocation ? e : null;
        }
        if (allocation) {
            byte[] n = NbdProtocol.META_BASE_ALLOCATION.getBytes(StandardCharsets.US_ASCII);
            reply(option, NbdProtocol.REP_META_CONTEXT, 4 + n.length);
            ctl.putInt(set ? NbdProtocol.META_ID_BASE_ALLOCATION : 0).put(n); // LIST replies carry id 0
        }
        reply(option, NbdProtocol.REP_ACK, 0);
    }

    private void reply(int option, int type, int length) {
        ensure(NbdProtocol.OPT_REPLY_HEADER_LENGTH + length);
        ctl.putLong(NbdProtocol.OPT_REPLY_MAGIC).putInt(option).putInt(type).putInt(length);
    }

    private void error(int option, int type, String message) {
        byte[] m = message.getBytes(StandardCharsets.UTF_8);
        reply(option, type, m.length);
        ctl.put(m);
    }

    /** Grows the reply buffer (a LIST of many exports) to take {@code n} more bytes. */
    private void ensure(int n) {
        if (ctl.remaining() < n) {
            ByteBuffer b = ByteBuffer.allocateDirect(Math.max(2 * ctl.capacity(), ctl.position() + n));
            ctl.flip();
            b.put(ctl);
            ctl = b;
        }
    }

    private static String string(ByteBuffer in, int at, int len) {
        byte[] b = new byte[len];
        in.get(at, b);
        return new String(b, StandardCharsets.UTF_8);
    }

    /** Queues the reply built so far and writes it. */
    private void send() {
        if (conn.isClosed()) {
            return;
        }
        ctl.flip();
        conn.queueReply(ctl, null);
        conn.flushOutput();
    }
}
