package org.mqblock.nativeio;

import java.util.Arrays;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.FdMonitor;
import org.mqblock.core.loop.FdWatch;
import org.mqblock.core.loop.ReadyList;

/**
 * The epoll {@link FdMonitor} (QEMU's util/fdmon-epoll.c): raw fds (eventfds, Unix sockets, the
 * kick fds of a vhost-user backend) in one epoll set, level-triggered, waited on with nanosecond
 * timeouts. Use it as {@code new AioContext(name, clock, EpollMonitor::new)} or {@code
 * IOThread.start(id, cpu, pollMaxNs, EpollMonitor::new)}. {@code java.nio} channels are refused:
 * they need the Selector monitor ({@link FdMonitor#SELECTOR}).
 *
 * <p><b>Wakeup</b> ({@code ctx->notifier}): an eventfd of the monitor's own, in the same epoll
 * set. {@link #wakeup()} writes it; a {@link #wait} it ends reads it back to zero and does not
 * report it as a watch. The count stays in the kernel until then, so a wakeup before the wait
 * ends that wait at once (sticky). An idle context sleeps in {@code epoll_pwait2} with no
 * deadline: no busy loop, no helper thread.
 *
 * <p><b>Slots.</b> Each watch gets a slot, its state in {@link FdWatch#attachment()}; the epoll
 * datum is the slot's index and generation, so a ready event that names a slot freed (and maybe
 * reused) since the kernel queued it is recognised and dropped. {@link #update} and {@link
 * #remove} run in a thread holding the context, which may be another thread than the home thread
 * while it sleeps in {@link #wait} with the context released; the slot table is therefore guarded
 * by {@link #slotsLock}, which {@link #wait} takes only after {@code epoll_pwait2} returns, to map
 * data to watches. A slot whose watch asks for no events is kept but taken out of the epoll set,
 * so a hung-up fd whose handlers are silenced (external sources disabled) cannot make every wait
 * return at once.
 *
 * <p><b>Events.</b> {@link #READ} is EPOLLIN, {@link #WRITE} EPOLLOUT; a hang-up or error
 * (EPOLLHUP, EPOLLERR, which epoll always reports) is reported as both, so whichever handler the
 * watch has sees it (QEMU's {@code FDMON_IN_OUT_EVENTS}).
 *
 * <p><b>Closing the fd.</b> Remove the watch before closing its fd, as with {@code
 * aio_set_fd_handler(NULL)}: epoll forgets a closed fd only when the last copy of it is closed,
 * and a copy left in another process would keep reporting events for a slot that is gone.
 */
public final class EpollMonitor implements FdMonitor {

    /** {@code EpollMonitor::new}, named. */
    public static final FdMonitor.Factory FACTORY = EpollMonitor::new;

    /** Ready fds one wait reports at most (as QEMU's fdmon-epoll); the rest come with the next. */
    static final int MAX_EVENTS = 128;
    /** The datum of the wakeup eventfd: no slot has index 0xffffffff. */
    private static final long WAKEUP_DATA = -1L;

    /** A watch's registration. Fields other than the final ones are guarded by {@link #slotsLock}. */
    private static final class Slot {
        final FdWatch watch;
        final int index;
        final int generation;
        /** The epoll events the fd is registered with; 0 when it is out of the epoll set. */
        int epollEvents;

        Slot(FdWatch watch, int index, int generation) {
            this.watch = watch;
            this.index = index;
            this.generation = generation;
        }

        long data() {
            return ((long) generation << 32) | (index & 0xffff_ffffL);
        }
    }

    private final String ctxName;
    private final Epoll epoll;
    private final EventFd notifier;

    /** Guards the slot table below: holders of the context write it, the waiter reads it. */
    private final Object slotsLock = new Object();
    private Slot[] slots = new Slot[16];
    /** The next generation of each slot index; bumped when the slot is freed. */
    private int[] generations = new int[16];
    /** Free slot indexes, a stack. */
    private int[] free = new int[16];
    private int freeCount;
    private int used; // indexes below it have been handed out at least once
    private int live;

    /** Written once by the home thread in {@link #onHomeThread()}; read by any thread (volatile). */
    private volatile boolean timerSlackSet;
    /** Set once by the closing thread (under `this`). */
    private boolean closed;

    /**
     * Makes the monitor of {@code ctx}: an epoll set holding its wakeup eventfd. Context: the
     * thread constructing the context.
     */
    public EpollMonitor(AioContext ctx) {
        this.ctxName = ctx.name();
        this.epoll = Epoll.create(MAX_EVENTS);
        try {
            this.notifier = EventFd.create(EventFd.EFD_NONBLOCK | EventFd.EFD_CLOEXEC);
            try {
                epoll.add(notifier.fd(), Epoll.EPOLLIN, WAKEUP_DATA);
            } catch (RuntimeException | Error e) {
                notifier.close();
                throw e;
            }
        } catch (RuntimeException | Error e) {
            epoll.close();
            throw e;
        }
    }

    /** {@code "epoll"}. Context: any thread. */
    @Override
    public String kind() {
        return "epoll";
    }

    /**
     * Sets the home thread's timer slack to 1 ns ({@link Prctl#setTimerSlackNs}), so that the
     * short timeouts the loop computes from its timers are not rounded up by the default 50 µs.
     * Context: the home thread, as it binds.
     */
    @Override
    public void onHomeThread() {
        timerSlackSet = Prctl.setTimerSlackNs(1);
    }

    /** Whether {@link #onHomeThread()} set the timer slack (false before it ran). Context: any thread. */
    public boolean timerSlackSet() {
        return timerSlackSet;
    }

    /**
     * Registers the watch's fd on the first call and sets its events. Context: a thread holding
     * the context.
     *
     * @throws IllegalArgumentException for a {@code java.nio} channel (use the Selector monitor),
     *         or an fd epoll refuses (closed, or a regular file), naming the fd and the errno
     */
    @Override
    public void update(FdWatch watch, int events) {
        if (watch.channel() != null) {
            throw new IllegalArgumentException("AioContext '" + ctxName + "' uses the epoll monitor, which watches"
                    + " raw fds; " + watch.channel() + " is a java.nio channel: create its AioContext with the"
                    + " Selector monitor (FdMonitor.SELECTOR), or watch a raw fd with watchFd");
        }
        int want = toEpoll(events);
        synchronized (slotsLock) {
            Slot s = (Slot) watch.attachment();
            boolean fresh = s == null;
            if (fresh) {
                s = allocate(watch);
            }
            try {
                if (want != s.epollEvents) {
                    if (want == 0) {
                        epoll.delete(watch.fd());
                    } else if (s.epollEvents == 0) {
                        epoll.add(watch.fd(), want, s.data());
                    } else {
                        epoll.modify(watch.fd(), want, s.data());
                    }
                    s.epollEvents = want;
                }
            } catch (NativeException e) {
                if (fresh) {
                    release(s);
                }
                throw new IllegalArgumentException("AioContext '" + ctxName + "': epoll cannot watch fd "
                        + watch.fd() + ": " + e.getMessage(), e);
            }
            if (fresh) {
                watch.attach(s);
            }
        }
    }

    /**
     * Takes the watch's fd out of the epoll set and frees its slot; a ready event already queued
     * for it is dropped. An fd closed before its watch was removed is tolerated (EBADF, ENOENT).
     * Context: a thread holding the context.
     */
    @Override
    public void remove(FdWatch watch) {
        synchronized (slotsLock) {
            Slot s = (Slot) watch.attachment();
            if (s == null) {
                return;
            }
            if (s.epollEvents != 0) {
                try {
                    epoll.delete(watch.fd());
                } catch (NativeException e) {
                    if (e.errno() != Libc.EBADF && e.errno() != Libc.ENOENT) {
                        throw e;
                    }
                }
                s.epollEvents = 0;
            }
            release(s);
            watch.attach(null);
        }
    }

    /**
     * Sleeps in the kernel until a watched fd is ready, {@link #wakeup()} is called or {@code
     * timeoutNs} passes, then adds the ready watches to {@code ready}. Drains the wakeup eventfd
     * when it fired (it is not a watch). Allocates nothing. Context: the home thread, the context
     * released (or held, for a look with timeout 0 or a nested poll).
     */
    @Override
    public int wait(long timeoutNs, ReadyList ready) {
        int n = epoll.await(timeoutNs);
        if (n == 0) {
            return 0;
        }
        int added = 0;
        synchronized (slotsLock) {
            Slot[] table = slots;
            for (int i = 0; i < n; i++) {
                long data = epoll.data(i);
                if (data == WAKEUP_DATA) {
                    notifier.read(); // back to zero: the next wait sleeps again (aio_notify_accept's role)
                    continue;
                }
                int index = (int) data;
                Slot s = index >= 0 && index < table.length ? table[index] : null;
                if (s == null || s.generation != (int) (data >>> 32)) {
                    continue; // removed since the kernel queued it
                }
                ready.add(s.watch, toMonitor(epoll.events(i)));
                added++;
            }
        }
        return added;
    }

    /**
     * Ends the wait in progress or the next one: one eventfd write. Context: any thread (the
     * context calls it at most once per sleep).
     */
    @Override
    public void wakeup() {
        notifier.signal();
    }

    /**
     * Closes the epoll fd and the wakeup eventfd; the watched fds stay open. Idempotent. Context:
     * the closing thread, once the home thread has stopped polling.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            epoll.close();
        } finally {
            notifier.close();
        }
    }

    /** How many watches hold a slot. Context: any thread. */
    public int watchCount() {
        synchronized (slotsLock) {
            return live;
        }
    }

    /** The epoll fd (for diagnostics). Context: any thread. */
    public int epollFd() {
        return epoll.fd();
    }

    /** The wakeup eventfd's fd (for diagnostics). Context: any thread. */
    public int wakeupFd() {
        return notifier.fd();
    }

    // Slot table, under slotsLock.

    private Slot allocate(FdWatch watch) {
        int index;
        if (freeCount > 0) {
            index = free[--freeCount];
        } else {
            index = used++;
            if (index == slots.length) {
                slots = Arrays.copyOf(slots, index * 2);
                generations = Arrays.copyOf(generations, index * 2);
                free = Arrays.copyOf(free, index * 2);
            }
        }
        Slot s = new Slot(watch, index, generations[index]);
        slots[index] = s;
        live++;
        return s;
    }

    private void release(Slot s) {
        slots[s.index] = null;
        generations[s.index]++;
        free[freeCount++] = s.index;
        live--;
    }

    private static int toEpoll(int events) {
        int e = 0;
        e |= (events & READ) != 0 ? Epoll.EPOLLIN : 0;
        e |= (events & WRITE) != 0 ? Epoll.EPOLLOUT : 0;
        return e;
    }

    private static int toMonitor(int epollEvents) {
        int e = 0;
        if ((epollEvents & (Epoll.EPOLLHUP | Epoll.EPOLLERR)) != 0) {
            return READ | WRITE;
        }
        e |= (epollEvents & (Epoll.EPOLLIN | Epoll.EPOLLPRI | Epoll.EPOLLRDHUP)) != 0 ? READ : 0;
        e |= (epollEvents & Epoll.EPOLLOUT) != 0 ? WRITE : 0;
        return e;
    }

    @Override
    public String toString() {
        return "EpollMonitor[" + ctxName + ", epoll fd " + epoll.fd() + ", wakeup fd " + notifier.fd() + "]";
    }
}
