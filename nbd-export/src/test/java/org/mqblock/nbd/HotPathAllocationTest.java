package org.mqblock.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The transmission hot path allocates nothing per request: bytes allocated by the connection's
 * IOThread over many pipelined reads and writes, after a warm-up, stay near zero. (A count of
 * bytes, not a timing: it holds on a loaded machine too.)
 */
class HotPathAllocationTest {

    private static final int DEPTH = 32;

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void pipelinedReadsAndWritesAllocateNothingPerRequest() throws Exception {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        try (NbdFixture f = new NbdFixture(1, "disk", "driver=memory,size=64M,queues=2");
             NbdTestClient c = NbdTestClient.connect(f.tcp, "disk")) {
            Thread io = Thread.getAllStackTraces().keySet().stream()
                    .filter(t -> t.getName().equals("nbd-test-io0")).findFirst().orElseThrow();
            byte[] block = new byte[4096];
            run(c, 20_000, block); // warm-up: slots get their buffers, the JIT compiles
            long before = mx.getThreadAllocatedBytes(io.getId());
            int n = 50_000;
            run(c, n, block);
            long allocated = mx.getThreadAllocatedBytes(io.getId()) - before;
            System.out.println("IOThread allocated " + allocated + " bytes over " + n + " requests");
            assertTrue(allocated < n, "IOThread allocated " + allocated + " bytes over " + n + " requests");
        }
    }

    /** {@code n} requests, alternating 4 KiB writes and reads, {@code DEPTH} in flight. */
    private static void run(NbdTestClient c, int n, byte[] block) throws Exception {
        int sent = 0;
        int done = 0;
        while (done < n) {
            while (sent < n && sent - done < DEPTH) {
                long off = (long) (sent * 7919 % 16384) * 4096;
                if ((sent & 1) == 0) {
                    c.sendRequest(0, NbdProtocol.CMD_WRITE, sent, off, 4096, block);
                } else {
                    c.sendRequest(0, NbdProtocol.CMD_READ, sent, off, 4096, null);
                }
                sent++;
            }
            c.out.flush();
            NbdTestClient.Reply r = c.readReply(0);
            assertEquals(0, r.error());
            if ((r.handle() & 1) == 1) {
                c.in.readFully(block);
            }
            done++;
        }
    }
}
