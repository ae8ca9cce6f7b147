package org.mqblock.nativeio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

class PrctlTest {

    @Test
    @Timeout(10)
    void timerSlackIsSetForTheCallingThreadOnly() throws Exception {
        long mine = Prctl.timerSlackNs();
        AtomicLong seen = new AtomicLong();
        Thread t = new Thread(() -> {
            assertTrue(Prctl.setTimerSlackNs(1));
            seen.set(Prctl.timerSlackNs());
        });
        t.start();
        t.join();
        assertEquals(1, seen.get());
        assertEquals(mine, Prctl.timerSlackNs());
        assertFalse(Prctl.setTimerSlackNs(-5));
    }
}
