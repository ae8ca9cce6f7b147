package org.mqblock.experiments.job;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/**
 * What {@code --verify} writes into each block and checks on read, like fio's crc32c verify: the
 * block's own offset, a generation the writer bumps on every overwrite, the writing job, then a
 * payload generated from those and a CRC32C over the payload. A read that returns another
 * block's data, a stale generation, or torn bytes fails the check.
 *
 * <p>Not threadsafe: one per vCPU thread (it reuses one scratch buffer).
 */
final class BlockStamp {

    static final int HEADER = 24;

    private final byte[] block;
    private final ByteBuffer view;
    private final CRC32C crc = new CRC32C();

    BlockStamp(int bs) {
        this.block = new byte[bs];
        this.view = ByteBuffer.wrap(block).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The scratch block: filled by {@link #fill}, or the bytes to {@link #check}. */
    byte[] bytes() {
        return block;
    }

    /** Writes the stamp of ({@code offset}, {@code generation}, {@code job}) into the scratch block. */
    void fill(long offset, long generation, int job) {
        view.putLong(0, offset);
        view.putLong(8, generation);
        view.putInt(16, job);
        long x = mix(offset * 31 + generation);
        int i = HEADER;
        for (; i + 8 <= block.length; i += 8) {
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            view.putLong(i, x);
        }
        for (; i < block.length; i++) {
            block[i] = (byte) i;
        }
        view.putInt(20, payloadCrc());
    }

    /**
     * Checks the scratch block against the stamp of ({@code offset}, {@code generation}); returns
     * null when it matches, else what is wrong.
     */
    String check(long offset, long generation) {
        long gotOffset = view.getLong(0);
        long gotGeneration = view.getLong(8);
        if (gotOffset != offset) {
            return "block at " + offset + " holds the block of offset " + gotOffset;
        }
        if (gotGeneration != generation) {
            return "block at " + offset + " holds generation " + gotGeneration + ", expected " + generation;
        }
        if (view.getInt(20) != payloadCrc()) {
            return "block at " + offset + " generation " + generation + " fails its crc32c";
        }
        return null;
    }

    private int payloadCrc() {
        crc.reset();
        crc.update(block, HEADER, block.length - HEADER);
        return (int) crc.getValue();
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        z ^= z >>> 31;
        return z == 0 ? 1 : z;
    }
}
