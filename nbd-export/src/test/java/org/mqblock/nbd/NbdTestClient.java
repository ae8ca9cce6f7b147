package org.mqblock.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A minimal blocking NBD client for tests: it speaks the protocol byte by byte (and can break it on
 * purpose), so the tests check the server's wire behaviour, not a library's.
 */
final class NbdTestClient implements AutoCloseable {

    record OptionReply(int option, int type, byte[] data) {
        String text() {
            return new String(data, StandardCharsets.UTF_8);
        }
    }

    record Reply(int error, long handle, byte[] data) {}

    static final int READ_TIMEOUT_MS = 30_000;

    private final java.io.Closeable connection;
    final DataInputStream in;
    final DataOutputStream out;
    int handshakeFlags;
    long exportSize;
    int transmissionFlags;
    int minBlock;
    int prefBlock;
    int maxBlock;

    /**
     * TCP goes through a {@link Socket}, whose input and output streams may be used by two threads
     * at once; the streams of {@link Channels} share the channel's blocking lock, so a reader
     * blocked in one would stall a writer. A Unix socket (used from one thread only) needs a channel.
     */
    NbdTestClient(SocketAddress address) throws IOException {
        java.io.InputStream is;
        java.io.OutputStream os;
        if (address instanceof InetSocketAddress) {
            Socket s = new Socket();
            s.connect(address);
            s.setTcpNoDelay(true);
            // A blocked socket read ignores interrupts, so a test's @Timeout alone could not end a
            // test whose server never answers: each read gives up after this instead.
            s.setSoTimeout(READ_TIMEOUT_MS);
            connection = s;
            is = s.getInputStream();
            os = s.getOutputStream();
        } else {
            SocketChannel ch = SocketChannel.open(address);
            connection = ch;
            is = Channels.newInputStream(ch);
            os = Channels.newOutputStream(ch);
        }
        in = new DataInputStream(new BufferedInputStream(is, 1 << 16));
        out = new DataOutputStream(new BufferedOutputStream(os, 1 << 16));
    }

    /** Reads the greeting and sends the client flags. */
    NbdTestClient greet(int clientFlags) throws IOException {
        assertEquals(NbdProtocol.NBDMAGIC, in.readLong(), "NBDMAGIC");
        assertEquals(NbdProtocol.IHAVEOPT, in.readLong(), "IHAVEOPT");
        handshakeFlags = in.readUnsignedShort();
        out.writeInt(clientFlags);
        out.flush();
        return this;
    }

    NbdTestClient greet() throws IOException {
        return greet(NbdProtocol.CLIENT_FLAG_FIXED_NEWSTYLE | NbdProtocol.CLIENT_FLAG_NO_ZEROES);
    }

    void sendOption(int option, byte[] data) throws IOException {
        out.writeLong(NbdProtocol.IHAVEOPT);
        out.writeInt(option);
        out.writeInt(data.length);
        out.write(data);
        out.flush();
    }

    OptionReply readOptionReply() throws IOException {
        assertEquals(NbdProtocol.OPT_REPLY_MAGIC, in.readLong(), "option reply magic");
        int option = in.readInt();
        int type = in.readInt();
        int len = in.readInt();
        byte[] data = new byte[len];
        in.readFully(data);
        return new OptionReply(option, type, data);
    }

    static byte[] goData(String name, int... infos) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4 + n.length + 2 + 2 * infos.length);
        b.putInt(n.length).put(n).putShort((short) infos.length);
        for (int i : infos) {
            b.putShort((short) i);
        }
        return b.array();
    }

    /** LIST_META_CONTEXT / SET_META_CONTEXT data: the export name, then the queries. */
    static byte[] metaContextData(String name, String... queries) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        int len = 4 + n.length + 4;
        for (String q : queries) {
            len += 4 + q.getBytes(StandardCharsets.UTF_8).length;
        }
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(len);
        b.putInt(n.length).put(n).putInt(queries.length);
        for (String q : queries) {
            byte[] x = q.getBytes(StandardCharsets.UTF_8);
            b.putInt(x.length).put(x);
        }
        return b.array();
    }

    /** Structured replies, {@code base:allocation} on {@code name}, then GO: ready for BLOCK_STATUS. */
    static NbdTestClient connectWithAllocation(SocketAddress address, String name) throws IOException {
        NbdTestClient c = new NbdTestClient(address).greet();
        c.sendOption(NbdProtocol.OPT_STRUCTURED_REPLY, new byte[0]);
        assertEquals(NbdProtocol.REP_ACK, c.readOptionReply().type(), "structured replies");
        c.sendOption(NbdProtocol.OPT_SET_META_CONTEXT, metaContextData(name, NbdProtocol.META_BASE_ALLOCATION));
        OptionReply ctx = c.readOptionReply();
        assertEquals(NbdProtocol.REP_META_CONTEXT, ctx.type(), "base:allocation selected");
        assertEquals(NbdProtocol.REP_ACK, c.readOptionReply().type());
        List<OptionReply> r = c.go(NbdProtocol.OPT_GO, name, NbdProtocol.INFO_BLOCK_SIZE);
        assertEquals(NbdProtocol.REP_ACK, r.get(r.size() - 1).type(), "GO acknowledged");
        return c;
    }

    /** OPT_GO (or INFO) to {@code name}; returns every reply up to and including the final one. */
    List<OptionReply> go(int option, String name, int... infos) throws IOException {
        sendOption(option, goData(name, infos));
        List<OptionReply> replies = new ArrayList<>();
        while (true) {
            OptionReply r = readOptionReply();
            replies.add(r);
            if (r.type() == NbdProtocol.REP_INFO) {
                java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(r.data());
                int info = b.getShort() & 0xffff;
                if (info == NbdProtocol.INFO_EXPORT) {
                    exportSize = b.getLong();
                    transmissionFlags = b.getShort() & 0xffff;
                } else if (info == NbdProtocol.INFO_BLOCK_SIZE) {
                    minBlock = b.getInt();
                    prefBlock = b.getInt();
                    maxBlock = b.getInt();
                }
                continue;
            }
            return replies;
        }
    }

    /** Handshake straight into transmission on {@code name}. */
    static NbdTestClient connect(SocketAddress address, String name) throws IOException {
        NbdTestClient c = new NbdTestClient(address).greet();
        List<OptionReply> r = c.go(NbdProtocol.OPT_GO, name, NbdProtocol.INFO_BLOCK_SIZE);
        assertEquals(NbdProtocol.REP_ACK, r.get(r.size() - 1).type(), "GO acknowledged");
        return c;
    }

    void sendRequest(int flags, int type, long handle, long offset, int length, byte[] payload) throws IOException {
        out.writeInt(NbdProtocol.REQUEST_MAGIC);
        out.writeShort(flags);
        out.writeShort(type);
        out.writeLong(handle);
        out.writeLong(offset);
        out.writeInt(length);
        if (payload != null) {
            out.write(payload);
        }
    }

    record Chunk(int flags, int type, long handle, byte[] payload) {}

    /** Reads one structured reply chunk, payload included. */
    Chunk readChunk() throws IOException {
        assertEquals(NbdProtocol.STRUCTURED_REPLY_MAGIC, in.readInt(), "structured reply magic");
        int flags = in.readUnsignedShort();
        int type = in.readUnsignedShort();
        long handle = in.readLong();
        byte[] payload = new byte[in.readInt()];
        in.readFully(payload);
        return new Chunk(flags, type, handle, payload);
    }

    /** Reads a simple reply; {@code readLength} bytes of data follow when it is a successful read. */
    Reply readReply(int readLength) throws IOException {
        assertEquals(NbdProtocol.SIMPLE_REPLY_MAGIC, in.readInt(), "simple reply magic");
        int error = in.readInt();
        long handle = in.readLong();
        byte[] data = new byte[0];
        if (error == 0 && readLength > 0) {
            data = new byte[readLength];
            in.readFully(data);
        }
        return new Reply(error, handle, data);
    }

    Reply command(int flags, int type, long handle, long offset, int length, byte[] payload, int readLength) throws IOException {
        sendRequest(flags, type, handle, offset, length, payload);
        out.flush();
        Reply r = readReply(readLength);
        assertEquals(handle, r.handle(), "reply handle");
        return r;
    }

    Reply write(long handle, long offset, byte[] data) throws IOException {
        return command(0, NbdProtocol.CMD_WRITE, handle, offset, data.length, data, 0);
    }

    Reply read(long handle, long offset, int length) throws IOException {
        return command(0, NbdProtocol.CMD_READ, handle, offset, length, null, length);
    }

    void disconnect() throws IOException {
        sendRequest(0, NbdProtocol.CMD_DISC, 0, 0, 0, null);
        out.flush();
    }

    /** Whether the server closed the connection (reading gives end of stream). */
    boolean closedByServer() {
        try {
            in.readByte();
            return false;
        } catch (EOFException e) {
            return true;
        } catch (java.net.SocketTimeoutException e) {
            return false; // still open, only silent
        } catch (IOException e) {
            return true; // reset
        }
    }

    @Override
    public void close() throws IOException {
        connection.close();
    }
}
