package org.mqblock.memory;

import java.util.concurrent.CountDownLatch;

/** Small helpers shared by the tests. */
final class TestSupport {

    private TestSupport() {}

    interface WriteHandler {
        void write(long offset, long value);
    }

    /** Registers that read as zero and pass writes to {@code h}. */
    static MmioOps writeOnly(WriteHandler h) {
        return new MmioOps() {
            @Override
            public long read(long offset, int size) {
                return 0;
            }

            @Override
            public void write(long offset, long value, int size) {
                h.write(offset, value);
            }
        };
    }

    static void await(CountDownLatch l) {
        try {
            l.await();
        } catch (InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }
}
