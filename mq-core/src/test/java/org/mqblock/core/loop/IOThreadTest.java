package org.mqblock.core.loop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import net.openhft.affinity.Affinity;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

class IOThreadTest {

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void reportsWhatItAskedForAndWhatItGot() throws Exception {
        try (IOThread pinned = IOThread.start("iothread-pinned", IOThread.ANY_CPU);
             IOThread unpinned = IOThread.start("iothread-free", IOThread.UNPINNED)) {
            IOThread.Info info = pinned.info();
            assertEquals("iothread-pinned", info.id());
            assertEquals(IOThread.ANY_CPU, info.cpuRequested());
            assertEquals(PollWindow.DEFAULT_MAX_NS, info.pollMaxNs());
            assertTrue(info.threadId() > 0, "OS thread id: " + info.threadId());
            if (info.bound()) {
                // Then the thread really runs only there: ask it.
                int[] cpuSeen = new int[1];
                String[] mask = new String[1];
                CountDownLatch asked = new CountDownLatch(1);
                pinned.context().schedule(() -> {
                    cpuSeen[0] = Affinity.getCpu();
                    mask[0] = Affinity.getAffinity().toString();
                    asked.countDown();
                });
                asked.await();
                assertEquals(info.cpuBound(), cpuSeen[0]);
                assertEquals("{" + info.cpuBound() + "}", mask[0]);
                assertEquals("bound", info.pinning());
            } else {
                assertEquals(-1, info.cpuBound());
                assertFalse(info.pinning().isEmpty());
            }
            IOThread.Info free = unpinned.info();
            assertFalse(free.bound());
            assertEquals("not requested", free.pinning());
        }
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void aThrowingHandlerIsCountedAndTheLoopKeepsServing() throws Exception {
        try (IOThread io = IOThread.start("sturdy", IOThread.UNPINNED)) {
            io.context().schedule(() -> {
                throw new IllegalStateException("broken device");
            });
            CountDownLatch served = new CountDownLatch(1);
            io.context().schedule(served::countDown);
            served.await();
            assertEquals(1, io.failureCount());
            assertEquals("broken device", io.firstFailure().getMessage());
            assertTrue(io.isRunning());
        }
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void closeStopsTheThreadAndRefusesWhileABottomHalfIsAlive() {
        IOThread io = IOThread.start("closing", IOThread.UNPINNED);
        BottomHalf bh = io.context().newBottomHalf("still-needed", () -> {});
        IllegalStateException e = assertThrows(IllegalStateException.class, io::close);
        assertTrue(e.getMessage().contains("still-needed"), e.getMessage());
        assertFalse(io.isRunning(), "the thread stopped even though the context stayed open");
        bh.delete();
        io.close();
        assertTrue(io.context().isClosed());
        assertNotNull(io.toString());
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void aStrayInterruptIsClearedNotSpunOn() throws Exception {
        try (IOThread io = IOThread.start("interrupted", IOThread.UNPINNED, 0)) {
            WakeupTest.threadOf(io).interrupt();
            while (io.strayInterruptCount() == 0) {
                Thread.sleep(1);
            }
            WakeupTest.awaitParked(io); // back to sleeping, not spinning
            CountDownLatch served = new CountDownLatch(1);
            io.context().schedule(served::countDown);
            served.await();
            assertEquals(1, io.strayInterruptCount());
        }
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void itsTimedSleepsHaveOneNanosecondOfSlackAndItsCreatorKeepsItsOwn() throws Exception {
        Assumptions.assumeTrue(Files.exists(Path.of("/proc/self/timerslack_ns")), "needs Linux's /proc/<tid>/timerslack_ns");
        long before = Long.parseLong(Files.readString(Path.of("/proc/self/timerslack_ns")).trim());
        try (IOThread io = IOThread.start("slack", IOThread.UNPINNED, 0)) {
            assertEquals(1, io.info().timerSlackNs());
            String[] seen = new String[1];
            CountDownLatch done = new CountDownLatch(1);
            io.context().schedule(() -> {
                try {
                    seen[0] = Files.readString(Path.of("/proc", Long.toString(Affinity.getThreadId()), "timerslack_ns")).trim();
                } catch (java.io.IOException e) {
                    seen[0] = e.toString();
                }
                done.countDown();
            });
            done.await();
            assertEquals("1", seen[0], "what the kernel says of the IOThread itself");
        }
        assertEquals(before, Long.parseLong(Files.readString(Path.of("/proc/self/timerslack_ns")).trim()),
                "the main thread's slack is untouched");
    }

    @Test
    void rejectsANonsenseCpu() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> IOThread.start("x", -7));
        assertTrue(e.getMessage().contains("-7"), e.getMessage());
    }
}
