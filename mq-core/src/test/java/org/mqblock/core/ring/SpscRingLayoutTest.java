package org.mqblock.core.ring;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Method;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.mqblock.core.FieldOffsets;

/**
 * Proves on the running JVM that the padding class chain does what it is for: fields written by
 * different threads, and the read-mostly cold fields, lie at least 128 bytes (two cache lines:
 * adjacent-line prefetch) apart, with 128 bytes between the hot fields and the object's ends; and
 * that the element arrays' pads are at least 128 bytes. Offsets come from
 * {@code sun.misc.Unsafe.objectFieldOffset}, reached reflectively (tests only).
 */
class SpscRingLayoutTest {
    private static final int DISTANCE = 128;

    @Test
    void refRingHotFieldsOfDifferentThreadsAreAtLeast128BytesApart() throws Exception {
        checkLayout(SpscRing.class,
                List.of("buffer", "mask"),
                List.of("producerIndex", "producerLimit"),
                List.of("consumerIndex"));
    }

    @Test
    void longRingHotFieldsOfDifferentThreadsAreAtLeast128BytesApart() throws Exception {
        checkLayout(SpscLongRing.class,
                List.of("buffer", "mask"),
                List.of("producerIndex", "producerLimit"),
                List.of("consumerIndex"));
    }

    @Test
    void elementArrayPadsAreAtLeast128BytesAtEachEnd() throws Exception {
        Object unsafe = FieldOffsets.unsafe();
        Method scale = unsafe.getClass().getMethod("arrayIndexScale", Class.class);
        int refScale = (int) scale.invoke(unsafe, Object[].class);
        int longScale = (int) scale.invoke(unsafe, long[].class);
        assertTrue(SpscRing.PAD_SLOTS * refScale >= DISTANCE,
                SpscRing.PAD_SLOTS + " slots of " + refScale + " bytes");
        assertTrue(SpscLongRing.PAD_LONGS * longScale >= DISTANCE,
                SpscLongRing.PAD_LONGS + " longs of " + longScale + " bytes");
        // And the rings really leave those slots unused: index 0 maps past the front pad.
        SpscRing<Object> ring = new SpscRing<>(8);
        assertTrue(ring.buffer.length == 8 + 2 * SpscRing.PAD_SLOTS);
        SpscLongRing longRing = new SpscLongRing(8);
        assertTrue(longRing.buffer.length == SpscLongRing.SLOT_LONGS * 8 + 2 * SpscLongRing.PAD_LONGS);
    }

    private static void checkLayout(Class<?> type, List<String> cold, List<String> producer,
            List<String> consumer) throws Exception {
        Map<String, Long> offsets = FieldOffsets.of(type);
        String layout = FieldOffsets.describe(offsets);
        List<List<String>> groups = List.of(cold, producer, consumer);
        for (int a = 0; a < groups.size(); a++) {
            for (int b = a + 1; b < groups.size(); b++) {
                for (String x : groups.get(a)) {
                    for (String y : groups.get(b)) {
                        long d = Math.abs(FieldOffsets.offset(offsets, x) - FieldOffsets.offset(offsets, y));
                        assertTrue(d >= DISTANCE, x + " and " + y + " are " + d + " bytes apart\n" + layout);
                    }
                }
            }
        }
        // Neighbouring objects: 128 bytes before the first cold field and after the last hot one.
        long lowest = Long.MAX_VALUE;
        for (String f : cold) {
            lowest = Math.min(lowest, FieldOffsets.offset(offsets, f));
        }
        assertTrue(lowest >= DISTANCE, "cold fields start at " + lowest + "\n" + layout);
        long highestHot = 0;
        for (String f : consumer) {
            highestHot = Math.max(highestHot, FieldOffsets.offset(offsets, f));
        }
        for (String f : producer) {
            highestHot = Math.max(highestHot, FieldOffsets.offset(offsets, f));
        }
        long end = 0;
        for (long o : offsets.values()) {
            end = Math.max(end, o + 8);
        }
        assertTrue(end - (highestHot + 8) >= DISTANCE,
                "object ends " + (end - highestHot - 8) + " bytes after the last hot field\n" + layout);
    }
}
