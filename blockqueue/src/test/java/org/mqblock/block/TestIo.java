package org.mqblock.block;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Test helpers: run one request on a queue from the test thread and wait for it. */
public final class TestIo {

    private TestIo() {}

    /** Submits {@code r} in the queue's context and returns its status once completed. */
    public static int run(BlockQueue q, BlockRequest r) throws Exception {
        CompletableFuture<Integer> done = new CompletableFuture<>();
        BlockCompletion c = req -> done.complete(req.status());
        switch (r.op()) {
            case READ -> r.read(r.offset(), r.iov(), c);
            case WRITE -> r.write(r.offset(), r.iov(), c);
            case FLUSH -> r.flush(c);
            case DISCARD -> r.discard(r.offset(), r.length(), c);
            case WRITE_ZEROES -> r.writeZeroes(r.offset(), r.length(), c);
        }
        q.context().schedule(() -> q.submit(r));
        return done.get(60, TimeUnit.SECONDS);
    }

    public static int write(BlockQueue q, long offset, ByteBuffer data) throws Exception {
        return run(q, new BlockRequest().write(offset, IoVector.of(data.duplicate()), x -> {}));
    }

    public static int read(BlockQueue q, long offset, ByteBuffer into) throws Exception {
        return run(q, new BlockRequest().read(offset, IoVector.of(into.duplicate()), x -> {}));
    }

    public static int flush(BlockQueue q) throws Exception {
        return run(q, new BlockRequest().flush(x -> {}));
    }

    public static int writeZeroes(BlockQueue q, long offset, long length) throws Exception {
        return run(q, new BlockRequest().writeZeroes(offset, length, x -> {}));
    }

    public static int discard(BlockQueue q, long offset, long length) throws Exception {
        return run(q, new BlockRequest().discard(offset, length, x -> {}));
    }

    /** {@code n} bytes of a pattern that depends on {@code seed}. */
    public static ByteBuffer pattern(int n, int seed) {
        ByteBuffer b = ByteBuffer.allocateDirect(n);
        for (int i = 0; i < n; i++) {
            b.put(i, (byte) (seed * 31 + i * 7 + (i >>> 8)));
        }
        return b;
    }

    public static ByteBuffer zeros(int n) {
        return ByteBuffer.allocateDirect(n);
    }
}
