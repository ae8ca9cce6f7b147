package org.mqblock.nativeio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 10, unit = TimeUnit.SECONDS)
class EpollTest {

    private static final int FLAGS = EventFd.EFD_NONBLOCK | EventFd.EFD_CLOEXEC;

    @Test
    void eventFdWrittenFromAnotherThreadWakesTheWait() throws Exception {
        try (Epoll ep = Epoll.create(8); EventFd e = EventFd.create(FLAGS)) {
            ep.add(e.fd(), Epoll.EPOLLIN, 42);
            CountDownLatch waiting = new CountDownLatch(1);
            Thread writer = new Thread(() -> {
                try {
                    waiting.await();
                    Thread.sleep(20); // most likely asleep in the kernel by now; correct either way
                } catch (InterruptedException ex) {
                    Thread.currentThread().interrupt();
                }
                e.signal();
            });
            writer.start();
            waiting.countDown();
            int n = ep.await(-1);
            assertEquals(1, n);
            assertEquals(42, ep.data(0));
            assertEquals(Epoll.EPOLLIN, ep.events(0) & Epoll.EPOLLIN);
            writer.join();
        }
    }

    @Test
    void timeoutReturnsZeroEventsOnTheNanosecondPath() {
        assertTrue(Epoll.usesEpollPwait2(), "kernel " + System.getProperty("os.version") + " should have epoll_pwait2");
        try (Epoll ep = Epoll.create(8); EventFd e = EventFd.create(FLAGS)) {
            ep.add(e.fd(), Epoll.EPOLLIN, 1);
            assertEquals(0, ep.await(0));
            assertEquals(0, ep.await(1)); // 1 ns
            assertEquals(0, ep.await(2_500_000)); // 2.5 ms
            assertEquals(0, ep.await(1_000_000_123L)); // tv_sec 1, tv_nsec 123
        }
    }

    @Test
    void timeoutReturnsZeroEventsOnTheMillisecondFallback() {
        try (Epoll ep = Epoll.create(8, false); EventFd e = EventFd.create(FLAGS)) {
            ep.add(e.fd(), Epoll.EPOLLIN, 1);
            assertEquals(0, ep.await(0));
            assertEquals(0, ep.await(1)); // rounds up to 1 ms, never to 0
            e.signal();
            assertEquals(1, ep.await(5_000_000));
        }
    }

    @Test
    void dataComesBackWhole() {
        // epoll_event is packed on x86_64: data sits at offset 4, and all 64 bits must survive.
        try (Epoll ep = Epoll.create(4); EventFd a = EventFd.create(1, FLAGS); EventFd b = EventFd.create(1, FLAGS)) {
            ep.add(a.fd(), Epoll.EPOLLIN, 0x8000_0001_0000_0002L);
            ep.add(b.fd(), Epoll.EPOLLIN | Epoll.EPOLLOUT, -1L);
            assertEquals(2, ep.await(0));
            long d0 = ep.data(0);
            long d1 = ep.data(1);
            assertTrue((d0 == 0x8000_0001_0000_0002L && d1 == -1L) || (d1 == 0x8000_0001_0000_0002L && d0 == -1L),
                    Long.toHexString(d0) + " " + Long.toHexString(d1));
            int ebits = ep.data(0) == -1L ? ep.events(0) : ep.events(1);
            assertEquals(Epoll.EPOLLIN | Epoll.EPOLLOUT, ebits);
        }
    }

    @Test
    void waitReportsAtMostMaxEventsAndTheRestNext() {
        try (Epoll ep = Epoll.create(2); EventFd a = EventFd.create(1, FLAGS); EventFd b = EventFd.create(1, FLAGS);
             EventFd c = EventFd.create(1, FLAGS)) {
            ep.add(a.fd(), Epoll.EPOLLIN, 0);
            ep.add(b.fd(), Epoll.EPOLLIN, 1);
            ep.add(c.fd(), Epoll.EPOLLIN, 2);
            assertEquals(2, ep.await(0));
            long seen = (1L << ep.data(0)) | (1L << ep.data(1));
            // Level-triggered fds reported go to the back of the ready list: the third comes next.
            assertEquals(2, ep.await(0));
            seen |= (1L << ep.data(0)) | (1L << ep.data(1));
            assertEquals(0b111, seen);
            a.read();
            b.read();
            c.read();
            assertEquals(0, ep.await(0));
        }
    }

    @Test
    void modifyAndDeleteChangeWhatIsReported() {
        try (Epoll ep = Epoll.create(4); EventFd e = EventFd.create(1, FLAGS)) {
            ep.add(e.fd(), Epoll.EPOLLOUT, 7);
            assertEquals(1, ep.await(0));
            ep.modify(e.fd(), Epoll.EPOLLIN, 8);
            assertEquals(1, ep.await(0));
            assertEquals(8, ep.data(0));
            assertEquals(Epoll.EPOLLIN, ep.events(0));
            ep.delete(e.fd());
            assertEquals(0, ep.await(0));
        }
    }

    @Test
    void errnoMessageNamesTheCallTheFdAndTheErrno() {
        try (Epoll ep = Epoll.create(4)) {
            EventFd e = EventFd.create(FLAGS);
            int fd = e.fd();
            e.close();
            NativeException ex = assertThrows(NativeException.class, () -> ep.add(fd, Epoll.EPOLLIN, 0));
            assertEquals("epoll_ctl(ADD, fd " + fd + "): EBADF (9): Bad file descriptor", ex.getMessage());
            assertEquals(9, ex.errno());
            assertEquals("epoll_ctl", ex.call());
        }
    }

    @Test
    void closeReleasesTheEpollFd() {
        long before = OpenFds.count();
        Epoll ep = Epoll.create(4);
        assertEquals(before + 1, OpenFds.count());
        ep.close();
        ep.close();
        assertEquals(before, OpenFds.count());
    }
}
