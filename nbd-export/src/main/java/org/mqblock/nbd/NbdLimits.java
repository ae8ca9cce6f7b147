package org.mqblock.nbd;

/**
 * What one client, and all of them together, may make the server hold: the bound every export
 * keeps (DESIGN: "every export bounds the memory one client can pin").
 *
 * @param maxConnections clients served at once; one more is accepted and closed at once
 * @param connectionBufferBytes request data (read and write payloads, block-status replies) one
 *     connection may hold; over it the connection stops reading until its replies drain. At least
 *     the largest request ({@value #MAX_REQUEST} bytes), so every request can run.
 * @param serverBufferBytes the same for all connections together (the size of the server's
 *     buffer pool); at least {@code connectionBufferBytes}
 * @param handshakeTimeoutMs a client that has not entered transmission by then is dropped
 * @param maxOptions options one handshake may send before it is dropped
 */
public record NbdLimits(int maxConnections, long connectionBufferBytes, long serverBufferBytes,
                        long handshakeTimeoutMs, int maxOptions) {

    /** The largest read or write an export accepts (NbdExport caps its maximum block size here). */
    public static final int MAX_REQUEST = 32 << 20;

    /**
     * 512 clients; 64 MiB per client (two requests of the maximum size, or 16384 of 4 KiB; qemu-nbd
     * allows 16 requests of up to 32 MiB, 512 MiB); 1 GiB for the server; 10 s to negotiate, as
     * qemu-nbd; 64 options, twice the 32 nbdkit allows.
     */
    public static final NbdLimits DEFAULTS = new NbdLimits(512, 64L << 20, 1L << 30, 10_000, 64);

    public NbdLimits {
        if (maxConnections < 1) {
            throw new IllegalArgumentException("maxConnections must be >= 1, got " + maxConnections);
        }
        if (connectionBufferBytes < MAX_REQUEST) {
            throw new IllegalArgumentException("connectionBufferBytes must be >= " + MAX_REQUEST
                    + " (one request of the maximum size), got " + connectionBufferBytes);
        }
        if (serverBufferBytes < connectionBufferBytes) {
            throw new IllegalArgumentException("serverBufferBytes (" + serverBufferBytes
                    + ") must be >= connectionBufferBytes (" + connectionBufferBytes + ")");
        }
        if (handshakeTimeoutMs < 1) {
            throw new IllegalArgumentException("handshakeTimeoutMs must be >= 1, got " + handshakeTimeoutMs);
        }
        if (maxOptions < 1) {
            throw new IllegalArgumentException("maxOptions must be >= 1, got " + maxOptions);
        }
    }

    public NbdLimits withMaxConnections(int n) {
        return new NbdLimits(n, connectionBufferBytes, serverBufferBytes, handshakeTimeoutMs, maxOptions);
    }

    /** Both buffer budgets at once, since each bounds the other. */
    public NbdLimits withBuffers(long perConnection, long server) {
        return new NbdLimits(maxConnections, perConnection, server, handshakeTimeoutMs, maxOptions);
    }

    public NbdLimits withHandshakeTimeoutMs(long ms) {
        return new NbdLimits(maxConnections, connectionBufferBytes, serverBufferBytes, ms, maxOptions);
    }

    public NbdLimits withMaxOptions(int n) {
        return new NbdLimits(maxConnections, connectionBufferBytes, serverBufferBytes, handshakeTimeoutMs, n);
    }
}
