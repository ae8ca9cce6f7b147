package org.mqblock.nativeio;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.Pipe;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.EventNotifier;
import org.mqblock.core.loop.FdWatch;
import org.mqblock.core.loop.IOThread;
import org.mqblock.core.loop.NanoClock;

/** The epoll monitor under real AioContexts and IOThreads, against real eventfds and sockets. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class EpollMonitorTest {

    private static final int EFD = EventFd.EFD_NONBLOCK | EventFd.EFD_CLOEXEC;

    @Test
    void bottomHalvesScheduledFromOtherThreadsAllRun() throws Exception {
        final int producers = 4;
        final int each = 25_000; // 10^5 in all
        AtomicLong ran = new AtomicLong();
        CountDownLatch all = new CountDownLatch(1);
        try (IOThread io = IOThread.start("epoll-bh", IOThread.UNPINNED, 32_768, EpollMonitor::new)) {
            assertEquals("epoll", io.info().fdMonitor());
            AioContext ctx = io.context();
            Runnable bh = () -> {
                if (ran.incrementAndGet() == (long) producers * each) {
                    all.countDown();
                }
            };
            Thread[] threads = new Thread[producers];
            for (int p = 0; p < producers; p++) {
                threads[p] = new Thread(() -> {
                    for (int i = 0; i < each; i++) {
                        ctx.schedule(bh);
                    }
                });
                threads[p].start();
            }
            for (Thread t : threads) {
                t.join();
            }
            assertTrue(all.await(20, TimeUnit.SECONDS), "ran " + ran.get() + " of " + producers * each);
            assertEquals((long) producers * each, ran.get());
            assertTrue(ctx.wakeupCount() > 0, "the loop slept in epoll and was woken through its eventfd");
            assertEquals(0, io.failureCount());
        }
    }

    @Test
    void eventFdWrittenByAnotherThreadRunsItsReadHandler() throws Exception {
        try (IOThread io = IOThread.start("epoll-fd", IOThread.UNPINNED, 0, EpollMonitor::new);
             EventFd e = EventFd.create(EFD)) {
            AioContext ctx = io.context();
            AtomicLong total = new AtomicLong();
            AtomicReference<String> thread = new AtomicReference<>();
            CountDownLatch got = new CountDownLatch(1);
            ctx.acquire();
            FdWatch w;
            try {
                w = ctx.watchFd(e.fd(), false, () -> {
                    thread.set(Thread.currentThread().getName());
                    long v = e.read();
                    if (v != EventFd.EMPTY && total.addAndGet(v) == 10) {
                        got.countDown();
                    }
                }, null, null);
            } finally {
                ctx.release();
            }
            Thread writer = new Thread(() -> {
                for (int i = 0; i < 10; i++) {
                    e.write(1);
                }
            });
            writer.start();
            writer.join();
            assertTrue(got.await(10, TimeUnit.SECONDS), "read " + total.get() + " of 10");
            assertEquals("epoll-fd", thread.get());
            ctx.acquire();
            try {
                w.close();
            } finally {
                ctx.release();
            }
        }
    }

    @Test
    void eventNotifierOverAnEventFdFiresWhenTheFdIsWrittenDirectly() throws Exception {
        // The other end gets its own fd for the same eventfd, as another process would over SCM_RIGHTS.
        UnixSocket[] pair = UnixSocket.pair();
        try (IOThread io = IOThread.start("epoll-notifier", IOThread.UNPINNED, 32_768, EpollMonitor::new);
             EventFd kick = EventFd.create(EFD); UnixSocket a = pair[0]; UnixSocket b = pair[1];
             Arena arena = Arena.ofConfined()) {
            a.sendMsg(arena.allocate(1), kick.fd());
            int[] fds = new int[1];
            assertEquals(1, b.recvMsg(arena.allocate(1), fds).fds());
            try (EventFd guestSide = EventFd.adopt(fds[0])) {
                AioContext ctx = io.context();
                EventNotifier n = new EventNotifier("ioeventfd", kick);
                AtomicInteger fired = new AtomicInteger();
                CountDownLatch twice = new CountDownLatch(2);
                ctx.acquire();
                try {
                    ctx.setEventNotifier(n, true, () -> {
                        fired.incrementAndGet();
                        twice.countDown();
                    }, null);
                } finally {
                    ctx.release();
                }
                guestSide.write(1);
                waitUntil(() -> fired.get() == 1);
                guestSide.write(5); // one more firing, however large the count
                assertTrue(twice.await(10, TimeUnit.SECONDS));
                assertEquals(EventFd.EMPTY, kick.read(), "the notifier consumed the count");
                ctx.acquire();
                try {
                    ctx.removeEventNotifier(n);
                } finally {
                    ctx.release();
                }
            }
        }
    }

    @Test
    void idleIOThreadSleepsInTheKernel() throws Exception {
        try (IOThread io = IOThread.start("epoll-idle", IOThread.UNPINNED, 32_768, EpollMonitor::new)) {
            long tid = io.info().threadId();
            assertTrue(tid > 0, "Chronicle Affinity gave no thread id");
            Thread.sleep(100); // let it settle into its sleep
            long before = cpuNs(tid);
            Thread.sleep(1_000);
            long used = cpuNs(tid) - before;
            // A correctness bound, not a benchmark: a busy loop would use ~1 s of CPU here.
            assertTrue(used < 50_000_000L, "idle IOThread used " + used / 1_000_000 + " ms of CPU in 1 s");
        }
    }

    @Test
    void homeThreadGetsATimerSlackOfOneNanosecond() throws Exception {
        AtomicReference<EpollMonitor> monitor = new AtomicReference<>();
        try (IOThread io = IOThread.start("epoll-slack", IOThread.UNPINNED, 0, ctx -> {
            EpollMonitor m = new EpollMonitor(ctx);
            monitor.set(m);
            return m;
        })) {
            AtomicLong slack = new AtomicLong(-2);
            CountDownLatch done = new CountDownLatch(1);
            io.context().schedule(() -> {
                slack.set(Prctl.timerSlackNs());
                done.countDown();
            });
            assertTrue(done.await(10, TimeUnit.SECONDS));
            assertEquals(1, slack.get());
            assertTrue(monitor.get().timerSlackSet());
        }
    }

    @Test
    void closeReleasesTheEpollFdAndTheWakeupEventFd() {
        long before = OpenFds.count();
        AtomicReference<EpollMonitor> monitor = new AtomicReference<>();
        AioContext ctx = new AioContext("epoll-close", NanoClock.SYSTEM, c -> {
            EpollMonitor m = new EpollMonitor(c);
            monitor.set(m);
            return m;
        });
        assertEquals(before + 2, OpenFds.count());
        assertTrue(Fds.isOpen(monitor.get().epollFd()) && Fds.isOpen(monitor.get().wakeupFd()));
        try (EventFd e = EventFd.create(EFD)) {
            ctx.acquire();
            try {
                ctx.watchFd(e.fd(), false, e::read, null, null);
            } finally {
                ctx.release();
            }
            assertEquals(1, monitor.get().watchCount());
            ctx.close();
            assertEquals(0, monitor.get().watchCount(), "close removed the watch");
            assertTrue(Fds.isOpen(e.fd()), "the watched fd stays the caller's");
        }
        assertEquals(before, OpenFds.count());
        ctx.close(); // idempotent
    }

    @Test
    void javaChannelsAreRefusedWithAPointerToTheSelectorMonitor() throws IOException {
        AioContext ctx = new AioContext("epoll-refuses", NanoClock.SYSTEM, EpollMonitor::new);
        Pipe pipe = Pipe.open();
        try (Pipe.SourceChannel source = pipe.source()) {
            ctx.acquire();
            try {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> ctx.watchChannel(source, false, () -> {}, null));
                assertTrue(e.getMessage().contains("java.nio channel")
                        && e.getMessage().contains("FdMonitor.SELECTOR"), e.getMessage());
            } finally {
                ctx.release();
            }
        } finally {
            pipe.sink().close();
            ctx.close();
        }
    }

    @Test
    void anFdEpollCannotWatchIsRefusedNamingTheErrno() {
        AioContext ctx = new AioContext("epoll-badfd", NanoClock.SYSTEM, EpollMonitor::new);
        try {
            EventFd closed = EventFd.create(EFD);
            int fd = closed.fd();
            closed.close();
            ctx.acquire();
            try {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> ctx.watchFd(fd, false, () -> {}, null, null));
                assertEquals("AioContext 'epoll-badfd': epoll cannot watch fd " + fd + ": epoll_ctl(ADD, fd " + fd
                        + "): EBADF (9): Bad file descriptor", e.getMessage());
            } finally {
                ctx.release();
            }
        } finally {
            ctx.close();
        }
    }

    @Test
    void hangUpReachesTheWriteHandlerToo() throws Exception {
        UnixSocket[] pair = UnixSocket.pair();
        try (IOThread io = IOThread.start("epoll-hup", IOThread.UNPINNED, 0, EpollMonitor::new);
             UnixSocket a = pair[0]; Arena arena = Arena.ofConfined()) {
            // Fill a's send buffer, so that only a hang-up can make it "writable".
            a.setNonBlocking(true);
            MemorySegment chunk = arena.allocate(65_536);
            while (a.send(chunk) > 0) {
                // until EAGAIN
            }
            AioContext ctx = io.context();
            CountDownLatch woke = new CountDownLatch(1);
            AtomicReference<FdWatch> watch = new AtomicReference<>();
            ctx.acquire();
            try {
                watch.set(ctx.watchFd(a.fd(), false, null, () -> {
                    woke.countDown();
                    watch.get().close(); // the owner's answer to a hang-up: stop watching
                }, null));
            } finally {
                ctx.release();
            }
            pair[1].close();
            assertTrue(woke.await(10, TimeUnit.SECONDS), "EPOLLHUP must reach a watch that only writes");
        } finally {
            pair[1].close();
        }
    }

    @Test
    void silencedHungUpFdLeavesTheEpollSetSoWaitsSleep() {
        AtomicReference<EpollMonitor> monitor = new AtomicReference<>();
        AioContext ctx = new AioContext("epoll-silenced", NanoClock.SYSTEM, c -> {
            EpollMonitor m = new EpollMonitor(c);
            monitor.set(m);
            return m;
        });
        UnixSocket[] pair = UnixSocket.pair();
        try (UnixSocket a = pair[0]; Arena arena = Arena.ofConfined()) {
            AtomicInteger reads = new AtomicInteger();
            MemorySegment buf = arena.allocate(16);
            ctx.acquire();
            try {
                ctx.watchFd(a.fd(), true, () -> {
                    reads.incrementAndGet();
                    a.recv(buf);
                }, null, null);
                pair[1].close(); // a is hung up from now on: level-triggered EPOLLHUP forever
                ctx.disableExternal();
                ctx.poll(false); // applies the disable: the watch asks for nothing
                assertEquals(0, reads.get());
                // Were the fd still in the epoll set, its EPOLLHUP would be reported here (into the
                // null list, which would throw); out of the set, the look finds nothing.
                assertEquals(0, monitor.get().wait(0, null));
                ctx.enableExternal();
                ctx.poll(false);
                ctx.poll(false);
                assertTrue(reads.get() >= 1, "the hang-up is seen once external sources are back");
                buf.set(JAVA_BYTE, 0, (byte) 0);
            } finally {
                ctx.release();
            }
        } finally {
            ctx.close();
        }
    }

    @Test
    void wakeupIsStickyAndTheWaitDrainsIt() {
        AioContext ctx = new AioContext("epoll-sticky", NanoClock.SYSTEM, EpollMonitor::new);
        EpollMonitor m = new EpollMonitor(ctx);
        try {
            m.wakeup();
            // Only the wakeup eventfd can be ready: no watch, so no ReadyList is touched (null).
            assertEquals(0, m.wait(-1, null), "a wakeup before the wait ends it at once");
            assertEquals(0, m.wait(1_000_000, null), "drained: the next wait sleeps until its timeout");
            m.wakeup();
            m.wakeup();
            assertEquals(0, m.wait(-1, null));
            assertEquals(0, m.wait(0, null));
        } finally {
            m.close();
            m.close();
            ctx.close();
        }
    }

    private static void waitUntil(java.util.function.BooleanSupplier condition) throws InterruptedException {
        while (!condition.getAsBoolean()) {
            Thread.sleep(1);
        }
    }

    /** utime + stime of thread {@code tid} (fields 14 and 15 of /proc/self/task/TID/stat), in ns. */
    private static long cpuNs(long tid) throws IOException {
        String stat = Files.readString(Path.of("/proc/self/task/" + tid + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        long ticks = Long.parseLong(f[11]) + Long.parseLong(f[12]); // fields 14, 15 counted from field 3
        long hz = Libc.sysconf(2); // _SC_CLK_TCK
        return ticks * 1_000_000_000L / hz;
    }
}
