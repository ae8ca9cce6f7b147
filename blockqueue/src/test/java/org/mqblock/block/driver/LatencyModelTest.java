package org.mqblock.block.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import org.junit.jupiter.api.Test;
import org.mqblock.block.BlockDrivers;
import org.mqblock.block.BlockOp;
import org.mqblock.block.BlockOptions;

/** The latency driver's service times, computed without a clock: exact deadlines, no timing. */
class LatencyModelTest {

    private static final LatencyDriver.Model TWO_CHANNELS = new LatencyDriver.Model(85_000, 20_000, 0, 3.2e9, 1.05e9, 2);

    private static LatencyDriver driver(LatencyDriver.Model m) {
        return new LatencyDriver(1 << 20, m, LatencyDriver.Distribution.FIXED, false, 0, 1);
    }

    @Test
    void eachOperationHasItsOwnMediaTimeAndOnlyReadsAndWritesMoveData() {
        LatencyDriver.Model m = LatencyDriver.Model.P4500;
        assertEquals(85_000, m.mediaNs(BlockOp.READ));
        assertEquals(20_000, m.mediaNs(BlockOp.WRITE));
        assertEquals(20_000, m.mediaNs(BlockOp.DISCARD));
        assertEquals(0, m.mediaNs(BlockOp.FLUSH));
        assertEquals(327_680, m.transferNs(BlockOp.READ, 1 << 20), "1 MiB at 3.2 GB/s");
        assertEquals(1_280, m.transferNs(BlockOp.READ, 4096));
        assertEquals(3_901, m.transferNs(BlockOp.WRITE, 4096), "4 KiB at 1.05 GB/s");
        assertEquals(0, m.transferNs(BlockOp.WRITE_ZEROES, 1 << 20));
        assertEquals(0, m.transferNs(BlockOp.FLUSH, 0));
    }

    @Test
    void aRequestTakesAChannelForItsMediaTimeThenTheLinkForItsTransfer() {
        LatencyDriver d = driver(TWO_CHANNELS);
        long t = 1_000_000;
        assertEquals(t + 85_000 + 1_280, d.reserve(t, 85_000, 1_280), "an idle device");
        assertEquals(t + 85_000 + 2 * 1_280, d.reserve(t, 85_000, 1_280), "second channel, waits for the link");
        assertEquals(t + 2 * 85_000 + 1_280, d.reserve(t, 85_000, 1_280), "both channels busy: after the first frees");
    }

    @Test
    void largeRequestsAreBoundByTheLinkNotByTheChannels() {
        LatencyDriver d = driver(LatencyDriver.Model.P4500);
        long xfer = LatencyDriver.Model.P4500.transferNs(BlockOp.READ, 1 << 20);
        for (int i = 1; i <= 10; i++) {
            assertEquals(85_000 + i * xfer, d.reserve(0, 85_000, xfer), "read " + i + " of 1 MiB");
        }
    }

    @Test
    void optionsOverrideTheDefaultsAndLatencyUsSetsAllThreeMediaTimes() throws IOException {
        LatencyDriver.Model m = model("driver=latency,latency-us=50,parallelism=64");
        assertEquals(new LatencyDriver.Model(50_000, 50_000, 50_000, 3.2e9, 1.05e9, 64), m);
        m = model("driver=latency,read-latency-us=10,write-latency-us=12.5,flush-latency-us=3,read-bw=0,write-bw=2000");
        assertEquals(new LatencyDriver.Model(10_000, 12_500, 3_000, 0, 2e9, 42), m);
        assertEquals(0, m.transferNs(BlockOp.READ, 1 << 20), "read-bw=0: no transfer time");
        assertEquals(LatencyDriver.Model.P4500, model("driver=latency"));
        assertThrows(IllegalArgumentException.class, () -> model("driver=latency,read-bw=-1"));
    }

    private static LatencyDriver.Model model(String options) throws IOException {
        try (BlockDriver d = BlockDrivers.open(BlockOptions.parse(options))) {
            return ((LatencyDriver) d).model();
        }
    }
}
