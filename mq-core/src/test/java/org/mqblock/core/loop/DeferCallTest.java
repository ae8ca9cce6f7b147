package org.mqblock.core.loop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class DeferCallTest {

    @Test
    void identicalCallsInARegionCoalesceAndRunAtTheOutermostEnd() {
        List<String> log = new ArrayList<>();
        Runnable irq = () -> log.add("irq");
        Runnable other = () -> log.add("other");
        DeferCall.begin();
        DeferCall.defer(irq);
        DeferCall.defer(other);
        DeferCall.begin(); // nested
        DeferCall.defer(irq);
        DeferCall.defer(irq);
        DeferCall.end();
        assertTrue(log.isEmpty(), "the inner end does not flush");
        assertTrue(DeferCall.inRegion());
        DeferCall.end();
        assertEquals(List.of("irq", "other"), log, "once each, in the order first deferred");
        assertFalse(DeferCall.inRegion());
    }

    @Test
    void outsideARegionCallsRunImmediately() {
        List<String> log = new ArrayList<>();
        Runnable irq = () -> log.add("irq");
        DeferCall.defer(irq);
        DeferCall.defer(irq);
        assertEquals(List.of("irq", "irq"), log);
    }

    @Test
    void eachRegionRunsItsCallsAgain() {
        int[] runs = new int[1];
        Runnable irq = () -> runs[0]++;
        for (int i = 0; i < 3; i++) {
            DeferCall.begin();
            DeferCall.defer(irq);
            DeferCall.defer(irq);
            DeferCall.end();
        }
        assertEquals(3, runs[0]);
    }

    @Test
    void aFailingCallDoesNotLoseTheOthers() {
        List<String> log = new ArrayList<>();
        DeferCall.begin();
        DeferCall.defer(() -> {
            throw new IllegalStateException("boom");
        });
        DeferCall.defer(() -> log.add("after"));
        IllegalStateException e = assertThrows(IllegalStateException.class, DeferCall::end);
        assertEquals("boom", e.getMessage());
        assertEquals(List.of("after"), log);
        assertFalse(DeferCall.inRegion());
    }

    @Test
    void aRegionOpenedByADeferredCallJoinsTheFlush() {
        List<String> log = new ArrayList<>();
        Runnable inner = () -> log.add("inner");
        Runnable outer = () -> {
            log.add("outer-start");
            DeferCall.begin();
            DeferCall.defer(inner);
            DeferCall.end();
            log.add("outer-end");
        };
        DeferCall.begin();
        DeferCall.defer(outer);
        DeferCall.end();
        assertEquals(List.of("outer-start", "outer-end", "inner"), log);
    }

    @Test
    void unbalancedEndFails() {
        assertThrows(IllegalStateException.class, DeferCall::end);
    }
}
