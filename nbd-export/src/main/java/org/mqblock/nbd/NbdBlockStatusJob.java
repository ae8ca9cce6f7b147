package org.mqblock.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.core.loop.ThreadPool;

/**
 * One BLOCK_STATUS request's walk over the driver's allocation map ({@link BlockDriver#blockStatus},
 * which may read metadata and block), run on a worker of the connection's thread pool: the extents
 * are written into the slot's data buffer, adjacent runs with the same flags merged, at most
 * {@link #MAX_EXTENTS} (one with REQ_ONE). Reused by its slot.
 *
 * <p>Context: {@link #run} on a worker; {@link #complete} in the connection's thread. The slot's
 * fields are written before submit and read after complete, both ordered by the pool.
 */
final class NbdBlockStatusJob extends ThreadPool.Request {

    /** Extents per reply (qemu-nbd and nbdkit cap theirs too); the client asks again for the rest. */
    static final int MAX_EXTENTS = 1024;

    private final NbdRequest slot;
    private final NbdTransmission owner;
    private final BlockDriver driver;

    NbdBlockStatusJob(NbdRequest slot, NbdTransmission owner, BlockDriver driver) {
        this.slot = slot;
        this.owner = owner;
        this.driver = driver;
    }

    /** Bytes of data buffer a request with {@code cmdFlags} needs. */
    static int bufferLength(int cmdFlags) {
        return ((cmdFlags & NbdProtocol.CMD_FLAG_REQ_ONE) != 0 ? 1 : MAX_EXTENTS) * NbdProtocol.EXTENT_LENGTH;
    }

    /** Returns the number of extents written, or -EIO. */
    @Override
    protected int run() {
        ByteBuffer d = slot.data;
        int max = bufferLength(slot.cmdFlags) / NbdProtocol.EXTENT_LENGTH;
        long off = slot.nbdOffset;
        long end = off + slot.nbdLength;
        int n = 0;
        int lastFlags = -1;
        try {
            while (off < end) {
                long st = driver.blockStatus(off, end - off);
                long len = Math.min(BlockDriver.statusLength(st), end - off);
                // BlockDriver's STATUS_HOLE and STATUS_ZERO are NBD_STATE_HOLE and NBD_STATE_ZERO.
                int flags = BlockDriver.statusFlags(st);
                if (flags == lastFlags) {
                    int at = (n - 1) * NbdProtocol.EXTENT_LENGTH;
                    d.putInt(at, (int) ((d.getInt(at) & 0xffffffffL) + len)); // the request is < 4 GiB
                } else {
                    if (n == max) {
                        break;
                    }
                    d.putInt(n * NbdProtocol.EXTENT_LENGTH, (int) len);
                    d.putInt(n * NbdProtocol.EXTENT_LENGTH + 4, flags);
                    n++;
                    lastFlags = flags;
                }
                off += len;
            }
        } catch (IOException e) {
            return n > 0 ? n : ThreadPool.EIO; // what was found is still true
        }
        return n;
    }

    @Override
    protected void complete(int ret) {
        owner.blockStatusDone(slot, ret);
    }
}
