package org.mqblock.nativeio;

import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

class MappingTest {

    @Test
    void twoMappingsOfOneMemFdSeeEachOthersWrites() {
        try (MemFd m = MemFd.create("t", MemFd.MFD_CLOEXEC | MemFd.MFD_ALLOW_SEALING)) {
            m.truncate(3 * Mapping.pageSize());
            try (Mapping whole = m.map(0, 3 * Mapping.pageSize());
                 Mapping third = m.map(2 * Mapping.pageSize(), Mapping.pageSize())) {
                third.segment().set(JAVA_LONG, 16, 99);
                assertEquals(99, whole.segment().get(JAVA_LONG, 2 * Mapping.pageSize() + 16));
                assertEquals(2 * Mapping.pageSize(), third.offset());
                assertEquals(Mapping.pageSize(), third.length());
            }
        }
    }

    @Test
    void useAfterUnmapIsRefusedClearly() {
        try (MemFd m = MemFd.create("t", MemFd.MFD_CLOEXEC)) {
            m.truncate(Mapping.pageSize());
            Mapping map = m.map(0, Mapping.pageSize());
            MemorySegment seg = map.segment();
            seg.set(JAVA_LONG, 0, 1);
            map.close();
            map.close();
            assertFalse(map.isMapped());
            IllegalStateException e = assertThrows(IllegalStateException.class, map::segment);
            assertTrue(e.getMessage().contains("was unmapped"), e.getMessage());
            assertThrows(IllegalStateException.class, map::address);
            // A segment obtained before close is invalid too: an exception, not a SIGSEGV.
            assertThrows(IllegalStateException.class, () -> seg.get(JAVA_LONG, 0));
        }
    }

    @Test
    void mappingOutlivesTheFd() {
        MemFd m = MemFd.create("t", MemFd.MFD_CLOEXEC);
        m.truncate(Mapping.pageSize());
        try (Mapping map = m.map(0, Mapping.pageSize())) {
            m.close();
            map.segment().set(JAVA_LONG, 0, 5);
            assertEquals(5, map.segment().get(JAVA_LONG, 0));
        }
    }

    @Test
    void misalignedOffsetAndBadFdAreRefusedClearly() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Mapping.map(0, 100, 4096));
        assertTrue(e.getMessage().contains("offset 100 is not a non-negative multiple of the page size"), e.getMessage());
        NativeException ne = assertThrows(NativeException.class, () -> Mapping.map(1 << 20, 0, 4096));
        assertTrue(ne.getMessage().startsWith("mmap(fd " + (1 << 20) + ", offset 0, length 4096): EBADF (9)"), ne.getMessage());
    }
}
