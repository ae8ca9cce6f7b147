package org.mqblock.core.loop;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.mqblock.core.FieldOffsets;

/**
 * The fields producers read on every schedule and notify lie at least 128 bytes (two cache lines,
 * for adjacent-line prefetch) from every field the home thread writes on every poll, and from the
 * object header. Without the pad classes they shared lines.
 */
class AioContextLayoutTest {
    private static final int DISTANCE = 128;

    private static final List<String> READ_BY_PRODUCERS = List.of(
            "name", "clock", "bottomHalves", "monitor", "notified", "notifyMe", "closeState",
            "externalDisableCount", "home");
    private static final List<String> WRITTEN_BY_HOME_EVERY_POLL = List.of(
            "pollDepth", "sleeps", "busyPollHits", "pollWindow", "timers", "lock", "sources");

    @Test
    void producerReadFieldsAreTwoCacheLinesFromHomeWrittenFields() throws Exception {
        Map<String, Long> offsets = FieldOffsets.of(AioContext.class);
        String layout = FieldOffsets.describe(offsets);
        for (String shared : READ_BY_PRODUCERS) {
            long s = FieldOffsets.offset(offsets, shared);
            assertTrue(s >= DISTANCE, shared + " is " + s + " bytes from the object header\n" + layout);
            for (String own : WRITTEN_BY_HOME_EVERY_POLL) {
                long d = Math.abs(s - FieldOffsets.offset(offsets, own));
                assertTrue(d >= DISTANCE, shared + " and " + own + " are " + d + " bytes apart\n" + layout);
            }
        }
    }
}
