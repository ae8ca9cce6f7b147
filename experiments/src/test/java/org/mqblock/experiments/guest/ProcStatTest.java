package org.mqblock.experiments.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ProcStatTest {

    @Test
    void ticksAreUtimePlusStimeEvenWhenTheNameHasSpacesAndParentheses() {
        String stat = "4242 (CPU 0/TCG) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 567 0 0 20 0 9 0 100 0 0";
        assertEquals(1234 + 567, ProcStat.ticks(stat));
        assertEquals(-1, ProcStat.ticks("garbage"));
    }

    @Test
    void thisProcessAndItsThreadsAreSeen() {
        long pid = ProcessHandle.current().pid();
        assertTrue(ProcStat.processTicks(pid) >= 0);
        assertTrue(ProcStat.threads(pid).values().stream().anyMatch(t -> t.ticks() >= 0 && !t.name().isEmpty()));
        assertEquals(-1, ProcStat.processTicks(Long.MAX_VALUE), "a process that is gone");
    }
}
