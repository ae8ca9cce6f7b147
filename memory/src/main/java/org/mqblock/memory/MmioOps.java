package org.mqblock.memory;

/**
 * A device's register handlers ({@code MemoryRegionOps}): accesses of 1, 2, 4 or 8 bytes at an
 * offset inside the region. Values are little-endian integers zero-extended to a {@code long}: a
 * 2-byte write passes {@code value & 0xffff}; a read's result is masked to its size.
 *
 * <p>Context: both run in the thread that dispatches the access, holding the region's owner
 * {@link org.mqblock.core.loop.AioContext} (and with the device's {@link ReentrancyGuard}
 * engaged), so they never run concurrently with the device's other handlers.
 */
public interface MmioOps {

    long read(long offset, int size);

    void write(long offset, long value, int size);
}
