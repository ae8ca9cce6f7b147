package org.mqblock.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

class VqMappingTest {

    static final List<String> THREADS = List.of("io0", "io1", "io2");

    @Test
    void roundRobinSpreadsVirtqueuesInOrder() {
        VqMapping m = VqMapping.roundRobin(8, 3);
        int[] expected = {0, 1, 2, 0, 1, 2, 0, 1};
        for (int vq = 0; vq < 8; vq++) {
            assertEquals(expected[vq], m.iothreadOf(vq));
        }
        assertEquals(3, m.iothreadsUsed());
        assertEquals(m.toString(), VqMapping.parse("round-robin", 8, THREADS).toString());
    }

    @Test
    void explicitMappingAssignsEachVirtqueueOnce() {
        VqMapping m = VqMapping.parse("io1:0,3;io0:1;io2:2", 4, THREADS);
        assertEquals(1, m.iothreadOf(0));
        assertEquals(0, m.iothreadOf(1));
        assertEquals(2, m.iothreadOf(2));
        assertEquals(1, m.iothreadOf(3));
    }

    @Test
    void invalidMappingsAreRefusedWithTheExactReason() {
        assertError("io0:0,1;io1:1,2,3", "virtqueue 1 is given to IOThread 'io1' but is already served by IOThread 'io0'");
        assertError("io0:0,1;io1:3", "virtqueue 2 not given to any IOThread in the vq mapping");
        assertError("io0:0;io1:3", "virtqueues [1, 2] not given to any IOThread in the vq mapping");
        assertError("io0:0,1,2,3,4", "virtqueue 4 given to IOThread 'io0' does not exist: num_queues is 4");
        assertError("io9:0,1,2,3", "vq mapping names IOThread 'io9', which does not exist; IOThreads: [io0, io1, io2]");
        assertError("io0:0,1;io0:2,3", "IOThread 'io0' appears more than once in the vq mapping");
        assertError("io0:0,x", "vq mapping entry 'io0:0,x': virtqueue indices must be integers");
        assertError("io0", "vq mapping entry 'io0' should be IOTHREAD:VQ[,VQ...]");
    }

    private static void assertError(String spec, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> VqMapping.parse(spec, 4, THREADS));
        assertEquals(message, e.getMessage());
    }
}
