package org.mqblock.block.driver;

/**
 * What a driver can do, for the block layer to validate requests and route them.
 *
 * @param multiqueueSafe whether requests may reach the driver from several queues (contexts) at
 *     once; if not, the block layer serializes the node: one request in the driver at a time
 * @param requestAlignment offsets and lengths of reads and writes must be multiples of this
 * @param maxTransfer the largest read or write, in bytes
 * @param discard whether discard does something (else it completes as a no-op, QEMU's
 *     {@code discard=ignore})
 * @param writeZeroes whether write-zeroes is supported
 */
public record DriverCapabilities(boolean multiqueueSafe, int requestAlignment, int maxTransfer,
                                 boolean discard, boolean writeZeroes) {
    public DriverCapabilities {
        if (requestAlignment < 1 || Integer.bitCount(requestAlignment) != 1) {
            throw new IllegalArgumentException("requestAlignment must be a power of two, got " + requestAlignment);
        }
        if (maxTransfer < requestAlignment) {
            throw new IllegalArgumentException("maxTransfer " + maxTransfer + " < alignment " + requestAlignment);
        }
    }
}
