package org.mqblock.block;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class BlockOptionsTest {

    @Test
    void parsesKeyValuePairsWithDoubledCommasInValues() {
        BlockOptions o = BlockOptions.parse("driver=file,filename=a,,b.img,queues=4,cache=none");
        assertEquals("file", o.string("driver"));
        assertEquals("a,b.img", o.string("filename"));
        assertEquals(4, o.integer("queues", 1, 1, 64));
        assertEquals("none", o.choice("cache", "writeback", List.of("writeback", "none")));
        assertFalse(o.has("size"));
        o.checkAllUsed("file", Set.of());
    }

    @Test
    void sizesTakeBinarySuffixes() {
        BlockOptions o = BlockOptions.parse("a=4096,b=64k,c=1G,d=2T,e=3M");
        assertEquals(4096, o.size("a", 0, 0, Long.MAX_VALUE));
        assertEquals(64 << 10, o.size("b", 0, 0, Long.MAX_VALUE));
        assertEquals(1L << 30, o.size("c", 0, 0, Long.MAX_VALUE));
        assertEquals(2L << 40, o.size("d", 0, 0, Long.MAX_VALUE));
        assertEquals(3 << 20, o.size("e", 0, 0, Long.MAX_VALUE));
        assertEquals(-1, BlockOptions.parseSize("12x"));
        assertEquals(-1, BlockOptions.parseSize("-5"));
    }

    @Test
    void everyErrorNamesTheKeyAndWhatWouldBeAccepted() {
        assertMessage(() -> BlockOptions.parse("queues=four").integer("queues", 1, 1, 64), "'queues'", "not an integer");
        assertMessage(() -> BlockOptions.parse("queues=0").integer("queues", 1, 1, 64), "'queues'", "[1, 64]");
        assertMessage(() -> BlockOptions.parse("cache=maybe").choice("cache", "writeback", List.of("writeback", "none")),
                "'cache'", "[writeback, none]");
        assertMessage(() -> BlockOptions.parse("size=lots").size("size", 0, 0, 100), "'size'", "suffix");
        assertMessage(() -> BlockOptions.parse("filename").string("filename"), "'filename'", "key=value");
        assertMessage(() -> BlockOptions.parse("a=1,a=2"), "'a'", "twice");
        assertMessage(() -> BlockOptions.parse("x=1").string("filename"), "missing option 'filename'");
        BlockOptions o = BlockOptions.parse("driver=memory,sise=1G,colour=red");
        o.string("driver");
        assertMessage(() -> o.checkAllUsed("driver 'memory'", Set.of("driver", "size")),
                "[sise, colour]", "driver 'memory'", "accepted: [driver, size]");
    }

    static void assertMessage(Runnable r, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "'" + e.getMessage() + "' should mention " + p);
        }
    }
}
