package org.mqblock.block;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.mqblock.core.loop.IOThread;

/**
 * A read-modify-write never interleaves with an overlapping write on another queue, in either
 * order, and holds up nothing else. The {@link GateDriver} shows exactly which requests reached the
 * driver while another was held there.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class OverlapSerialisationTest {

    /** Long enough for a request that is not held back to reach the gate on a loaded machine. */
    private static final long NOTHING_ARRIVES_MS = 300;

    static IOThread io0;
    static IOThread io1;

    @BeforeAll
    static void start() {
        io0 = IOThread.start("serial-io0", IOThread.UNPINNED);
        io1 = IOThread.start("serial-io1", IOThread.UNPINNED);
    }

    @AfterAll
    static void stop() {
        io0.close();
        io1.close();
    }

    private static CompletableFuture<Integer> submit(BlockQueue q, BlockRequest r, long offset, ByteBuffer data) {
        CompletableFuture<Integer> done = new CompletableFuture<>();
        r.write(offset, IoVector.of(data), req -> done.complete(req.status()));
        q.context().schedule(() -> q.submit(r));
        return done;
    }

    private static ByteBuffer filled(int n, int value) {
        ByteBuffer b = ByteBuffer.allocateDirect(n);
        for (int i = 0; i < n; i++) {
            b.put(i, (byte) value);
        }
        return b;
    }

    @Test
    void anOverlappingWriteWaitsForTheReadModifyWriteOnAnotherQueue() throws Exception {
        GateDriver gate = new GateDriver(64 << 10);
        BlockDriverState bs = BlockDriverState.create("gate", gate, List.of(io0.context(), io1.context()));
        try {
            CompletableFuture<Integer> rmw = submit(bs.queue(0), new BlockRequest(), 100, filled(200, 0x11));
            BlockRequest head = gate.next();
            assertEquals("READ 0+512", head.op() + " " + head.offset() + "+" + head.length(), "the RMW reads its head block");

            CompletableFuture<Integer> overlapping = submit(bs.queue(1), new BlockRequest(), 0, filled(512, 0x22));
            CompletableFuture<Integer> elsewhere = submit(bs.queue(1), new BlockRequest(), 4096, filled(512, 0x33));
            BlockRequest other = gate.next();
            assertEquals("WRITE 4096", other.op() + " " + other.offset(), "a write elsewhere is not held up");
            gate.release(other);
            assertEquals(BlockStatus.OK, elsewhere.get(10, TimeUnit.SECONDS));
            assertNull(gate.poll(NOTHING_ARRIVES_MS), "the overlapping write must wait for the read-modify-write");

            gate.release(head);
            BlockRequest rmwWrite = gate.next();
            assertEquals("WRITE 0+512", rmwWrite.op() + " " + rmwWrite.offset() + "+" + rmwWrite.length(),
                    "the RMW's write comes before the overlapping one");
            gate.release(rmwWrite);
            assertEquals(BlockStatus.OK, rmw.get(10, TimeUnit.SECONDS));

            BlockRequest later = gate.next();
            assertEquals("WRITE 0+512", later.op() + " " + later.offset() + "+" + later.length());
            gate.release(later);
            assertEquals(BlockStatus.OK, overlapping.get(10, TimeUnit.SECONDS));
            for (int i = 0; i < 512; i++) {
                assertEquals((byte) 0x22, gate.byteAt(i), "byte " + i + ": the later write wins whole");
            }
            assertEquals(0, bs.tracker().size(), "nothing left tracked");
        } finally {
            gate.open();
            bs.close();
        }
    }

    @Test
    void aReadModifyWriteWaitsForAFastPathWriteInFlightOnAnotherQueue() throws Exception {
        GateDriver gate = new GateDriver(64 << 10);
        BlockDriverState bs = BlockDriverState.create("gate", gate, List.of(io0.context(), io1.context()));
        try {
            CompletableFuture<Integer> aligned = submit(bs.queue(1), new BlockRequest(), 0, filled(512, 0x22));
            BlockRequest fast = gate.next();
            assertEquals("WRITE 0+512", fast.op() + " " + fast.offset() + "+" + fast.length());

            CompletableFuture<Integer> rmw = submit(bs.queue(0), new BlockRequest(), 100, filled(200, 0x11));
            assertNull(gate.poll(NOTHING_ARRIVES_MS), "the read-modify-write must not read before the write in flight ends");

            gate.release(fast);
            assertEquals(BlockStatus.OK, aligned.get(10, TimeUnit.SECONDS));
            BlockRequest head = gate.next();
            assertEquals("READ 0+512", head.op() + " " + head.offset() + "+" + head.length());
            gate.release(head);
            BlockRequest write = gate.next();
            assertEquals("WRITE 0+512", write.op() + " " + write.offset() + "+" + write.length());
            gate.release(write);
            assertEquals(BlockStatus.OK, rmw.get(10, TimeUnit.SECONDS));
            for (int i = 0; i < 512; i++) {
                assertEquals((byte) (i >= 100 && i < 300 ? 0x11 : 0x22), gate.byteAt(i), "byte " + i);
            }
        } finally {
            gate.open();
            bs.close();
        }
    }
}
