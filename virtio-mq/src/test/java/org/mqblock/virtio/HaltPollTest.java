package org.mqblock.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** KVM's halt-polling window policy, step by step (grow_halt_poll_ns, shrink_halt_poll_ns). */
class HaltPollTest {

    @Test
    void windowStartsClosedGrowsFromTheStartValueByTwoAndStopsAtTheMaximum() {
        HaltPoll p = new HaltPoll(HaltPoll.DEFAULT_MAX_NS);
        assertEquals(0, p.windowNs(), "a vCPU has not polled yet");
        p.afterHalt(5_000); // slept, short: polling would have caught it
        assertEquals(10_000, p.windowNs());
        long expected = 10_000;
        for (int i = 0; i < 5; i++) {
            p.afterHalt(p.windowNs() + 1); // each just outlasted the window and slept
            expected = Math.min(HaltPoll.DEFAULT_MAX_NS, expected * 2);
            assertEquals(expected, p.windowNs(), "after short halt " + i);
        }
        assertEquals(200_000, p.windowNs(), "KVM's halt_poll_ns on x86 caps it");
        p.afterHalt(200_000); // woken at the window's end
        assertEquals(200_000, p.windowNs());
    }

    @Test
    void aWakeupInsideTheWindowKeepsItAndAHaltLongerThanTheMaximumClosesIt() {
        HaltPoll p = new HaltPoll(100_000);
        p.afterHalt(1_000);
        p.afterHalt(15_000);
        assertEquals(20_000, p.windowNs());
        p.afterHalt(19_999); // woken while polling
        assertEquals(20_000, p.windowNs());
        p.afterHalt(100_001); // a long sleep: polling only burnt the CPU
        assertEquals(0, p.windowNs());
        p.afterHalt(10_000_000); // closed and long again: stays closed
        assertEquals(0, p.windowNs());
    }

    @Test
    void zeroTurnsPollingOffAndNegativeIsRefused() {
        HaltPoll off = new HaltPoll(0);
        for (long ns : new long[] {1, 5_000, 1_000_000}) {
            off.afterHalt(ns);
            assertEquals(0, off.windowNs());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new HaltPoll(-1));
        assertEquals("halt-poll-ns: invalid value -1 (must be >= 0; 0 turns polling off)", e.getMessage());
    }
}
