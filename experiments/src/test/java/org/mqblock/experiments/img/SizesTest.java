package org.mqblock.experiments.img;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class SizesTest {

    @Test
    void parsesQemuImgSizes() {
        assertEquals(1L << 30, Sizes.parse("1G"));
        assertEquals(1L << 30, Sizes.parse("1g"));
        assertEquals(512L << 20, Sizes.parse("512M"));
        assertEquals(3L << 29, Sizes.parse("1.5G"));
        assertEquals(65536, Sizes.parse("64k"));
        assertEquals(1000, Sizes.parse("1000"));
        assertEquals(1000, Sizes.parse("1000B"));
        assertEquals(1L << 50, Sizes.parse("1P"));
    }

    @Test
    void refusesWhatQemuImgRefuses() {
        for (String bad : new String[] {"1.5", "-1", "12X", "", "G", "+1G", "1.0000000001K", "9E"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Sizes.parse(bad), bad);
            assertTrue(e.getMessage().contains("k, M, G, T, P or E"), e.getMessage());
        }
    }

    /** The strings qemu-img 7.2 printed for these sizes here (size_to_str: three significant digits). */
    @Test
    void printsSizesAsQemuImgDoes() {
        assertEquals("4 KiB", Sizes.human(4096));
        assertEquals("196 KiB", Sizes.human(200704));
        assertEquals("1 GiB", Sizes.human(1L << 30));
        assertEquals("1.5 MiB", Sizes.human(1572864));
        assertEquals("999 B", Sizes.human(999));
        assertEquals("0.977 KiB", Sizes.human(1000));
        assertEquals("0 B", Sizes.human(0));
        assertEquals("1 GiB (1073741824 bytes)", Sizes.humanWithBytes(1L << 30));
    }
}
