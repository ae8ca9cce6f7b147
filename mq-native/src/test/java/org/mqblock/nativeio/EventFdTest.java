package org.mqblock.nativeio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 10, unit = TimeUnit.SECONDS)
class EventFdTest {

    @Test
    void emptyNonBlockingReadReturnsEmptyForEagain() {
        try (EventFd e = EventFd.create(EventFd.EFD_NONBLOCK | EventFd.EFD_CLOEXEC)) {
            assertEquals(EventFd.EMPTY, e.read());
            assertFalse(e.testAndClear());
        }
    }

    @Test
    void readTakesTheWholeCount() {
        try (EventFd e = EventFd.create(EventFd.EFD_NONBLOCK | EventFd.EFD_CLOEXEC)) {
            assertTrue(e.write(3));
            assertTrue(e.write(4));
            assertEquals(7, e.read());
            assertEquals(EventFd.EMPTY, e.read());
        }
    }

    @Test
    void semaphoreReadTakesOneAtATime() {
        try (EventFd e = EventFd.create(3, EventFd.EFD_NONBLOCK | EventFd.EFD_CLOEXEC | EventFd.EFD_SEMAPHORE)) {
            assertEquals(1, e.read());
            assertEquals(1, e.read());
            assertTrue(e.testAndClear());
            assertEquals(EventFd.EMPTY, e.read());
        }
    }

    @Test
    void testAndClearNeverBlocksOnABlockingEventFd() {
        try (EventFd e = EventFd.create(EventFd.EFD_CLOEXEC)) {
            assertFalse(e.isNonBlocking());
            assertFalse(e.testAndClear()); // would hang in read(2) without the poll first
            e.signal();
            e.signal();
            assertTrue(e.testAndClear());
            assertFalse(e.testAndClear());
        }
    }

    @Test
    void blockingReadWaitsForAWriteFromAnotherThread() throws Exception {
        try (EventFd e = EventFd.create(EventFd.EFD_CLOEXEC)) {
            Thread writer = new Thread(() -> {
                try {
                    Thread.sleep(20);
                } catch (InterruptedException ex) {
                    Thread.currentThread().interrupt();
                }
                e.write(5);
            });
            writer.start();
            assertEquals(5, e.read());
            writer.join();
        }
    }

    @Test
    void nonBlockingWriteThatWouldOverflowReturnsFalse() {
        try (EventFd e = EventFd.create(EventFd.EFD_NONBLOCK | EventFd.EFD_CLOEXEC)) {
            assertTrue(e.write(0xffff_ffff_ffff_fffeL)); // the largest count
            assertFalse(e.write(1));
            assertEquals(0xffff_ffff_ffff_fffeL, e.read());
        }
    }

    @Test
    void adoptLearnsWhetherTheFdIsNonBlocking() {
        try (EventFd nb = EventFd.create(EventFd.EFD_NONBLOCK | EventFd.EFD_CLOEXEC);
             EventFd b = EventFd.create(EventFd.EFD_CLOEXEC)) {
            assertTrue(EventFd.adopt(nb.fd()).isNonBlocking());
            assertFalse(EventFd.adopt(b.fd()).isNonBlocking());
        }
        NativeException e = assertThrows(NativeException.class, () -> EventFd.adopt(1 << 20));
        assertEquals(9, e.errno());
    }

    /** A peer that filled the counter or drained it first cannot make our write or read wait. */
    @Test
    void adoptNonBlockingMakesTheSharedFileNonBlocking() {
        try (EventFd theirs = EventFd.create(EventFd.EFD_CLOEXEC)) {
            assertFalse(theirs.isNonBlocking());
            EventFd ours = EventFd.adoptNonBlocking(theirs.fd()); // same fd number: one open file
            assertTrue(ours.isNonBlocking());
            assertTrue(EventFd.adopt(theirs.fd()).isNonBlocking(), "the flag is the open file's, the sender's too");
            assertEquals(EventFd.EMPTY, ours.read());
            assertTrue(ours.write(0xffff_ffff_ffff_fffeL));
            assertFalse(ours.write(1), "a full counter: EAGAIN, not a wait");
        }
        NativeException e = assertThrows(NativeException.class, () -> EventFd.adoptNonBlocking(1 << 20));
        assertEquals(9, e.errno());
    }

    @Test
    void closeIsIdempotentAndReleasesTheFd() {
        long before = OpenFds.count();
        EventFd e = EventFd.create(EventFd.EFD_NONBLOCK | EventFd.EFD_CLOEXEC);
        assertEquals(before + 1, OpenFds.count());
        e.close();
        e.close();
        assertEquals(before, OpenFds.count());
    }

    @Test
    void unknownFlagsAreRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> EventFd.create(0x4));
        assertTrue(e.getMessage().contains("0x4"), e.getMessage());
    }
}
