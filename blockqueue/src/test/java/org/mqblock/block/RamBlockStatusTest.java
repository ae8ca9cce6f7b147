package org.mqblock.block;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.core.loop.IOThread;

/**
 * The allocation map of the drivers without an image (memory, latency with data, null): what
 * {@link BlockDriver#blockStatus} reports after writes, discards and write-zeroes, run by run.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RamBlockStatusTest {

    private static final long SIZE = 4L << 20;
    private static final long G = 64 << 10;
    private static final int HOLE = BlockDriver.STATUS_HOLE | BlockDriver.STATUS_ZERO;
    static IOThread io;

    @BeforeAll
    static void start() {
        io = IOThread.start("status-test", IOThread.UNPINNED);
    }

    @AfterAll
    static void stop() {
        io.close();
    }

    /** The runs the driver reports over the whole device, as "length:flags" strings. */
    private static List<String> map(BlockDriver d) throws Exception {
        java.util.ArrayList<String> runs = new java.util.ArrayList<>();
        for (long off = 0; off < d.length(); ) {
            long st = d.blockStatus(off, d.length() - off);
            runs.add(BlockDriver.statusLength(st) + ":" + BlockDriver.statusFlags(st));
            off += BlockDriver.statusLength(st);
        }
        return runs;
    }

    @ParameterizedTest
    @ValueSource(strings = {"driver=memory", "driver=latency,latency-us=1"})
    void writtenGranulesAreDataAndTheRestHolesThatReadAsZeros(String driver) throws Exception {
        try (BlockBackend b = BlockBackend.open("ram", driver + ",size=" + SIZE, List.of(io.context()))) {
            BlockDriver d = b.node().driver();
            BlockQueue q = b.queue(0);
            assertEquals(List.of(SIZE + ":" + HOLE), map(d), "a new disk is one hole");
            assertEquals(BlockStatus.OK, TestIo.write(q, G + 512, TestIo.pattern(512, 1)));
            assertEquals(BlockStatus.OK, TestIo.write(q, 3 * G - 512, TestIo.pattern(1024, 2)));
            assertEquals(List.of(G + ":" + HOLE, 3 * G + ":0", (SIZE - 4 * G) + ":" + HOLE), map(d),
                    "each touched 64 KiB granule is data, whole");
            assertEquals(BlockStatus.OK, TestIo.discard(q, 3 * G, G));
            assertEquals(List.of(G + ":" + HOLE, 2 * G + ":0", (SIZE - 3 * G) + ":" + HOLE), map(d),
                    "a discard of a whole granule makes it a hole again");
            assertEquals(BlockStatus.OK, TestIo.discard(q, G, G / 2));
            assertEquals(BlockStatus.OK, TestIo.writeZeroes(q, 2 * G, G));
            assertEquals(BlockStatus.OK, TestIo.writeZeroes(q, 5 * G, G));
            assertEquals(List.of(G + ":" + HOLE, 2 * G + ":0", (SIZE - 3 * G) + ":" + HOLE), map(d),
                    "a partial discard keeps its granule; write-zeroes changes nothing in the map");
            long st = d.blockStatus(G + 100, 1000);
            assertEquals(1000, BlockDriver.statusLength(st), "a run never passes the length asked for");
        }
    }

    @Test
    void nullDriverIsAllHoleAndZeroOnlyWhenItZeroes() throws Exception {
        try (BlockBackend z = BlockBackend.open("z", "driver=null,zero=on,size=" + SIZE, List.of(io.context()));
             BlockBackend n = BlockBackend.open("n", "driver=null,size=" + SIZE, List.of(io.context()))) {
            assertEquals(List.of(SIZE + ":" + HOLE), map(z.node().driver()));
            assertEquals(List.of(SIZE + ":" + BlockDriver.STATUS_HOLE), map(n.node().driver()));
        }
    }

    @Test
    void growingAddsAHoleAndShrinkingKeepsTheMap() throws Exception {
        try (BlockBackend b = BlockBackend.open("ram", "driver=memory,size=" + SIZE, List.of(io.context()))) {
            assertEquals(BlockStatus.OK, TestIo.write(b.queue(0), SIZE - G, TestIo.pattern(4096, 3)));
            b.node().resize(SIZE + 2 * G);
            assertEquals(List.of((SIZE - G) + ":" + HOLE, G + ":0", 2 * G + ":" + HOLE), map(b.node().driver()));
            b.node().resize(SIZE - G / 2);
            assertEquals(List.of((SIZE - G) + ":" + HOLE, (G / 2) + ":0"), map(b.node().driver()));
        }
    }
}
