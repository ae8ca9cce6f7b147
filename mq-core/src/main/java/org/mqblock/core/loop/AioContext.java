package org.mqblock.core.loop;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.channels.SelectableChannel;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BiConsumer;

/**
 * A single-threaded event loop ({@code AioContext}, QEMU's include/block/aio.h): bottom halves,
 * timers, event notifiers and fd readiness, dispatched by {@link #poll(boolean)} in the context's
 * home thread. It sleeps through its {@link FdMonitor} (util/aio-posix.c over fdmon-*.c): the
 * Selector monitor by default, the epoll monitor of mq-native for raw fds.
 *
 * <h2>Threads</h2>
 * <ul>
 *   <li>The <b>home thread</b> is the only thread that polls: an {@link IOThread}, or the first
 *       thread that calls {@link #poll}. Polling takes the context's lock, so handlers run holding
 *       it.
 *   <li>Any thread may schedule bottom halves, set event notifiers, call {@link #aioNotify()} and
 *       disable or enable external sources; all of these are lock-free.
 *   <li>Another thread may {@link #acquire()} the context to run code that excludes the loop's
 *       handlers (graph changes, recursive MMIO dispatch). A blocking poll lets go of the lock
 *       while it sleeps, and an acquirer kicks a busy-polling loop, so acquiring is prompt.
 *   <li>Timers, notifier and fd registrations: a thread holding the context.
 * </ul>
 *
 * <h2>Waking the loop ({@code aio_notify})</h2>
 * Before sleeping, a poll raises {@code notifyMe} and only then looks for work once more
 * (notified flag, bottom halves, timers); a producer publishes its work, sets {@code notified} and
 * only then reads {@code notifyMe}. All these are volatile, so one of the two sees the other:
 * either the loop finds the work or the producer wakes it, with one call: {@link
 * FdMonitor#wakeup()}. A producer that finds {@code notified} already set does nothing: the loop
 * clears that flag (accept) before it reads the work queues, so a pass that will see this
 * producer's work is still to come. While the loop runs handlers or busy-polls, {@code notifyMe}
 * is down and no producer makes a wakeup call; setting {@code notified} is what ends a busy-poll
 * (QEMU polls {@code ctx->notified} the same way).
 *
 * <h2>One poll</h2>
 * If blocking and nothing is pending: busy-poll for the adaptive window ({@link PollWindow}), then
 * raise {@code notifyMe} and sleep in the monitor until notified, a source is ready or the next
 * timer is due. Then accept the notification and run, in order: the bottom halves scheduled so
 * far (one slice), ready fd watches, set event notifiers and poll-ready handlers, due timers
 * (inside one {@link DeferCall} region, so timers that complete requests together raise one
 * interrupt), and the bottom halves those scheduled (a second slice; what that slice schedules
 * runs in the next poll, so a self-rescheduling bottom half cannot starve the others).
 *
 * <h2>Faults stay local</h2>
 * A handler that throws (an {@code Error} too) is reported to the context's failure listener and
 * the loop goes on with the other handlers; a failing fd watch is first handed to its own failure
 * handler (a connection closes itself), or closed. A context without a listener rethrows from
 * {@link #poll}, as a plain loop would. {@link IOThread}s always set one.
 */
public final class AioContext extends AioContextPad1 implements AutoCloseable {

    private static final ThreadLocal<AioContext> CURRENT = new ThreadLocal<>();

    private static final VarHandle NOTIFIED;
    private static final VarHandle HOME;
    private static final VarHandle EXTERNAL_DISABLE_COUNT;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            NOTIFIED = l.findVarHandle(AioContextSharedFields.class, "notified", boolean.class);
            HOME = l.findVarHandle(AioContextSharedFields.class, "home", Thread.class);
            EXTERNAL_DISABLE_COUNT = l.findVarHandle(AioContextSharedFields.class, "externalDisableCount", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final PollWindow pollWindow = new PollWindow(0, 0, 0);
    private final TimerList timers = new TimerList(this);
    /** Fair, so a queued acquirer gets the lock before the loop takes it back for the next poll. */
    private final ReentrantLock lock = new ReentrantLock(true);
    private final Sources sources = new Sources(this);

    /**
     * Where handler failures go ({@link #setFailureListener}). Written before the home thread
     * starts polling (published by Thread.start or the first acquire) or by a holder; read by the
     * home thread (volatile, since a holder may change it).
     */
    private volatile BiConsumer<Object, Throwable> failureListener;

    // Plain fields touched only by the thread holding the context.
    private int pollDepth;
    private ThreadPool threadPool;

    // Statistics.
    /** Producers that had to wake the sleeping loop; any thread increments. */
    private final AtomicLong wakeups = new AtomicLong();
    /** Home thread writes (volatile; at most once per poll); any thread reads. */
    private volatile long sleeps;
    /** Home thread writes (volatile; at most once per poll); any thread reads. */
    private volatile long busyPollHits;

    public AioContext(String name) {
        this(name, NanoClock.SYSTEM, FdMonitor.SELECTOR);
    }

    public AioContext(String name, NanoClock clock) {
        this(name, clock, FdMonitor.SELECTOR);
    }

    /**
     * A context that sleeps through the monitor {@code monitorFactory} makes (called once, here;
     * the monitor may keep the context and read its name). Context: any thread.
     */
    public AioContext(String name, NanoClock clock, FdMonitor.Factory monitorFactory) {
        super(Objects.requireNonNull(name, "name"), Objects.requireNonNull(clock, "clock"),
                Objects.requireNonNull(monitorFactory, "monitorFactory"));
    }

    /** The context whose home is the calling thread (the last one bound to it), or null. */
    public static AioContext current() {
        return CURRENT.get();
    }

    // ---------------------------------------------------------------------------------------
    // Bottom halves

    /**
     * Creates a reusable bottom half ({@code aio_bh_new}). It stays alive until {@link
     * BottomHalf#delete()}; a context refuses to close while one is alive. Context: any thread.
     */
    public BottomHalf newBottomHalf(String name, Runnable callback) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(callback, "callback");
        ensureOpen();
        BottomHalf bh = new BottomHalf(this, name, callback, 0);
        bottomHalves.addLive(bh);
        return bh;
    }

    /**
     * Runs {@code callback} once in this context's thread ({@code aio_bh_schedule_oneshot}).
     * Wait-free; allocates one node per call (hot paths schedule a preallocated {@link
     * BottomHalf} instead). One-shots from one thread run in the order scheduled. Context: any
     * thread.
     *
     * @throws IllegalStateException if the context is closed, or closes while this call runs:
     *         a schedule that returns normally runs, or makes {@link #close()} fail
     */
    public void schedule(Runnable callback) {
        Objects.requireNonNull(callback, "callback");
        ensureOpen();
        enqueue(new BottomHalf(this, null, callback, BottomHalf.ONESHOT), BottomHalf.SCHEDULED);
    }

    void enqueue(BottomHalf bh, int flags) {
        int old = bh.markPending(flags);
        if ((old & BottomHalf.PENDING) == 0) {
            bottomHalves.offer(bh);
            // After the exchange on the queue's tail, in the same total order as close()'s
            // closeState stores: CLOSING seen means this node may be behind close's marker.
            if (closeState != OPEN) {
                awaitCloseOutcome(bh);
            }
            aioNotify();
        }
    }

    /**
     * A close is sealing the queue, or has closed it: wait for the outcome (a close waits for
     * nobody meanwhile). If the context closed and {@code bh} was never taken by a poll, it lies
     * behind close's marker and will not run: say so. A node ahead of the marker was either
     * taken already (it ran) or made that close fail, so it never reaches the throw.
     */
    private void awaitCloseOutcome(BottomHalf bh) {
        int state;
        while ((state = closeState) == CLOSING) {
            Thread.onSpinWait();
        }
        if (state == CLOSED && (bh.flags() & BottomHalf.PENDING) != 0) {
            throw new IllegalStateException("AioContext '" + name + "' closed while " + bh.name()
                    + " was being scheduled; it will not run");
        }
    }

    void forget(BottomHalf bh) {
        bottomHalves.forget(bh);
    }

    // ---------------------------------------------------------------------------------------
    // Waking the loop

    /**
     * Forces the loop to re-examine its sources ({@code aio_notify}): a sleeping poll returns, a
     * poll about to sleep does not. Context: any thread. Makes a wakeup call only if the loop
     * sleeps or is about to, and only once per sleep.
     *
     * <p>The caller must have published its work with a volatile store or an atomic
     * read-modify-write (as scheduling a bottom half and setting an {@link EventNotifier} do):
     * the fast path's load of {@code notified} must not pass that store.
     */
    public void aioNotify() {
        // Pairs with the notifyMe store and the notified load in waitForWork: all volatile.
        if (!notified && !(boolean) NOTIFIED.getAndSet(this, true) && notifyMe > 0) {
            wakeups.incrementAndGet();
            monitor.wakeup();
        }
    }

    /** Whether a notification is pending, not yet accepted by a poll. For monitors. */
    boolean notifiedPending() {
        return notified;
    }

    Thread homeThread() {
        return home;
    }

    // ---------------------------------------------------------------------------------------
    // The loop

    /**
     * Runs one iteration of the loop ({@code aio_poll}). Returns whether any handler made
     * progress. With {@code blocking}, waits until there is something to do; it can still return
     * false when woken by {@link #aioNotify()} alone. Context: the home thread (the first caller
     * becomes it).
     *
     * @throws IllegalStateException from another thread than the home thread, or once closed
     */
    public boolean poll(boolean blocking) {
        enterHomeThread();
        lock.lock();
        pollDepth++;
        try {
            return pollHeld(blocking);
        } finally {
            pollDepth--;
            lock.unlock();
        }
    }

    private boolean pollHeld(boolean blocking) {
        boolean externalDisabled = sources.applyExternalState();
        int readyBase = sources.ready.size();
        int pollReadyBase = sources.pollReadyMark();
        try {
            boolean waited = blocking && waitForWork(externalDisabled);
            if (!waited && sources.hasWatches()) {
                monitor.wait(0, sources.ready);
            }
            if (notified) {
                notified = false; // aio_notify_accept: volatile store before the loads of the queues below
            }

            boolean progress = bottomHalves.poll();
            progress |= sources.dispatchReady(readyBase);
            progress |= sources.dispatchEventNotifiers();
            progress |= sources.dispatchPollReady(pollReadyBase);
            if (timers.armedCount() > 0) {
                // Timers due together complete together: what they defer (an interrupt) runs once.
                DeferCall.begin();
                try {
                    progress |= timers.runDue(clock.nanoTime());
                } finally {
                    DeferCall.end();
                }
            }
            progress |= bottomHalves.poll();
            if (progress) {
                AioWait.kick();
            }
            return progress;
        } finally {
            sources.ready.truncate(readyBase);
            sources.truncatePollReady(pollReadyBase);
        }
    }

    /**
     * The blocking part of a poll: busy-poll with notifyMe down, so producers only set
     * {@code notified} (which ends the spin) and make no wakeup call; then raise notifyMe, look
     * once more and sleep. Returns whether it waited in the monitor (which then reported what is
     * ready).
     */
    private boolean waitForWork(boolean externalDisabled) {
        long timeout = computeTimeoutNs();
        if (timeout == 0) {
            return false;
        }
        long maxNs = pollWindow.maxNs();
        long start = maxNs > 0 ? clock.nanoTime() : 0;
        boolean waited = false;
        if (!busyPoll(timeout, externalDisabled) && !notified) {
            notifyMe = notifyMe + 1; // only the home thread writes; volatile store, then the loads below
            try {
                timeout = computeTimeoutNs();
                if (timeout != 0) {
                    waited = sleep(timeout);
                }
            } finally {
                notifyMe = notifyMe - 1;
            }
        }
        if (maxNs > 0) {
            pollWindow.adjust(clock.nanoTime() - start);
        }
        return waited;
    }

    /** 0 when there is work now, -1 to sleep without a deadline, else nanoseconds to the next timer. */
    private long computeTimeoutNs() {
        if (notified || bottomHalves.hasWork()) {
            return 0;
        }
        return timers.armedCount() == 0 ? -1 : timers.timeoutNs(clock.nanoTime());
    }

    /**
     * Spins on the poll handlers for up to the polling window ({@code run_poll_handlers}). Stops
     * early when a handler has work, when notified, or when another thread waits for the lock.
     */
    private boolean busyPoll(long timeout, boolean externalDisabled) {
        long window = pollWindow.ns();
        if (window == 0 || !sources.canBusyPoll()) {
            return false;
        }
        long budget = timeout < 0 ? window : Math.min(window, timeout);
        PollSource[] polled = sources.pollSources();
        Sources.pollBegin(polled, externalDisabled);
        boolean found = false;
        try {
            long deadline = clock.nanoTime() + budget;
            do {
                found = sources.pollOnce(polled, externalDisabled);
                if (found || notified || lock.hasQueuedThreads()) {
                    break;
                }
                Thread.onSpinWait();
            } while (clock.nanoTime() - deadline < 0);
        } finally {
            Sources.pollEnd(polled, externalDisabled);
        }
        if (!found) {
            // Notifications were suppressed while polling: anything that arrived meanwhile is only
            // visible to one more look. Also when a notify ended the phase: the window may have
            // shrunk to 0 meanwhile, and then no later busy poll would look.
            found = sources.pollOnce(polled, externalDisabled);
        }
        if (found) {
            busyPollHits = busyPollHits + 1;
        }
        return found;
    }

    /**
     * Sleeps in the monitor until notified, a source is ready, or {@code timeoutNs} passes (-1: no
     * deadline). Lets go of the lock while sleeping unless the poll is nested in a handler.
     */
    private boolean sleep(long timeoutNs) {
        boolean release = lock.getHoldCount() == 1;
        if (release) {
            lock.unlock();
        }
        sleeps = sleeps + 1;
        try {
            monitor.wait(timeoutNs, sources.ready);
            return true;
        } finally {
            if (release) {
                lock.lock();
            }
        }
    }

    /**
     * A handler of {@code source} threw: its owner is told (a watch's failure handler, or the
     * watch is closed), then the failure listener; without one the failure propagates out of
     * {@link #poll}. Context: the home thread, holding the context.
     */
    void handlerFailed(Object source, Throwable failure) {
        if (source instanceof FdWatch w) {
            w.failed(failure);
        }
        BiConsumer<Object, Throwable> listener = failureListener;
        if (listener == null) {
            throw AioContext.<RuntimeException>sneaky(failure);
        }
        listener.accept(source, failure);
    }

    @SuppressWarnings("unchecked")
    private static <T extends Throwable> T sneaky(Throwable t) throws T {
        throw (T) t; // rethrows an Error or RuntimeException as what it is
    }

    /**
     * Sets where handler failures go (an {@link IOThread} counts and prints them). With a
     * listener, a failing handler never ends a poll. Context: before the home thread polls, or a
     * thread holding the context.
     */
    public void setFailureListener(BiConsumer<Object, Throwable> listener) {
        failureListener = listener;
    }

    private void enterHomeThread() {
        Thread t = Thread.currentThread();
        Thread h = home;
        if (h != t) {
            if (h != null || !HOME.compareAndSet(this, null, t)) {
                throw new IllegalStateException("AioContext '" + name + "' polled from thread '"
                        + t.getName() + "', but its home thread is '" + home.getName() + "'");
            }
            CURRENT.set(this);
        }
        if (closeState == CLOSED) {
            throw new IllegalStateException("AioContext '" + name + "' is closed");
        }
    }

    /**
     * Makes the calling thread this context's home thread (IOThreads do this as they start) and
     * lets the monitor tune it. Context: the thread that will poll.
     */
    void bindHomeThread() {
        Thread t = Thread.currentThread();
        if (!HOME.compareAndSet(this, null, t) && home != t) {
            throw new IllegalStateException("AioContext '" + name + "' already has home thread '"
                    + home.getName() + "'");
        }
        CURRENT.set(this);
        monitor.onHomeThread();
    }

    /** Whether the caller is the context's home thread. Context: any thread. */
    public boolean inHomeThread() {
        return home == Thread.currentThread();
    }

    // ---------------------------------------------------------------------------------------
    // Ownership

    /**
     * Takes the context's recursive lock ({@code aio_context_acquire}), excluding its handlers
     * until {@link #release()}. If the loop holds it, the loop is kicked so that it lets go at
     * the end of its current step rather than after a full polling window. Context: any thread;
     * the main loop may acquire any context, an IOThread only its own (lock ordering).
     */
    public void acquire() {
        if (!lock.tryLock()) {
            aioNotify(); // ends a busy-poll; pairs with the notified check in busyPoll
            lock.lock();
        }
    }

    /**
     * {@link #acquire()} that gives up when the thread is interrupted: for code that must be able
     * to back out of a lock-order deadlock (the nested-locking baseline of the DMA experiment).
     * Context: any thread.
     */
    public void acquireInterruptibly() throws InterruptedException {
        if (!lock.tryLock()) {
            aioNotify();
            lock.lockInterruptibly();
        }
    }

    /** Releases one level of {@link #acquire()}. Context: the thread holding the context. */
    public void release() {
        lock.unlock();
    }

    /**
     * Releases every level this thread holds and returns how many there were, for {@link
     * #reacquire(int)}: how a thread about to wait on another context lets its own run.
     */
    public int releaseAll() {
        int depth = lock.getHoldCount();
        for (int i = 0; i < depth; i++) {
            lock.unlock();
        }
        return depth;
    }

    /** Re-takes the context {@code depth} times (the value {@link #releaseAll()} returned). */
    public void reacquire(int depth) {
        if (depth > 0) {
            acquire();
            for (int i = 1; i < depth; i++) {
                lock.lock();
            }
        }
    }

    /** Whether the calling thread holds the context. */
    public boolean isHeldByCurrentThread() {
        return lock.isHeldByCurrentThread();
    }

    void assertHeld() {
        if (!lock.isHeldByCurrentThread()) {
            throw new IllegalStateException("AioContext '" + name + "' must be held by thread '"
                    + Thread.currentThread().getName() + "' (call from its handlers, or acquire it)");
        }
    }

    // ---------------------------------------------------------------------------------------
    // Timers

    /** Creates a disarmed timer whose callback runs in this context. Context: any thread. */
    public Timer newTimer(String name, Runnable callback) {
        return new Timer(this, Objects.requireNonNull(name, "name"), Objects.requireNonNull(callback, "callback"));
    }

    TimerList timers() {
        return timers;
    }

    /** A thread holding the context moved the earliest deadline: a sleeping loop must recompute. */
    void earliestDeadlineChanged() {
        if (!inHomeThread()) {
            aioNotify();
        }
    }

    /** The clock of this context's timers and polling. */
    public NanoClock clock() {
        return clock;
    }

    // ---------------------------------------------------------------------------------------
    // Event notifiers and fd watches

    /**
     * Watches {@code notifier}: when it is set, {@code handler} runs in this context
     * ({@code aio_set_event_notifier}). With a {@code pollHandler}, the loop busy-polls it instead
     * of waiting, and runs {@code handler} when it reports work. A context busy-polls only while
     * every source it watches has a poll handler (QEMU's rule). Calling again updates the
     * registration. A notifier over an {@link FdSignal} is watched through the monitor (which must
     * take raw fds), so another process can set it. Context: a thread holding the context.
     *
     * @param external a guest-facing source, silenced by {@link #disableExternal()}
     */
    public void setEventNotifier(EventNotifier notifier, boolean external, Runnable handler, PollHandler pollHandler) {
        assertHeld();
        ensureOpen();
        Objects.requireNonNull(handler, "handler");
        AioContext owner = notifier.context();
        if (owner != null && owner != this) {
            throw new IllegalStateException(notifier + " is watched by AioContext '" + owner.name()
                    + "'; remove it there first");
        }
        if (owner == this) {
            removeEventNotifier(notifier);
        }
        FdSignal signal = notifier.signal();
        if (signal != null) {
            FdWatch w = new FdWatch(this, null, signal.fd(), external, notifier::fireFromSignal, null, pollHandler);
            w.setPolledHandler(handler);
            addWatch(w);
            notifier.register(this, external, handler, pollHandler, w);
        } else {
            notifier.register(this, external, handler, pollHandler, null);
            sources.addNotifier(notifier, pollHandler);
            if (notifier.isSet()) {
                aioNotify(); // set while nobody watched it
            }
        }
    }

    /** Stops watching {@code notifier}. Context: a thread holding the context. */
    public void removeEventNotifier(EventNotifier notifier) {
        assertHeld();
        if (notifier.context() != this) {
            throw new IllegalStateException(notifier + " is not watched by AioContext '" + name + "'");
        }
        FdWatch w = notifier.watch();
        if (w != null) {
            w.close();
        } else {
            sources.removeNotifier(notifier);
        }
        notifier.unregister();
    }

    /**
     * Watches a channel for readiness ({@code aio_set_fd_handler}); the channel is switched to
     * non-blocking mode. A null handler means no interest in that direction. Channel sources have
     * no poll handler, so a context that watches channels does not busy-poll. Needs a monitor
     * that watches channels (the Selector monitor). Context: a thread holding the context.
     */
    public FdWatch watchChannel(SelectableChannel channel, boolean external, Runnable onReadable, Runnable onWritable) {
        return addWatch(new FdWatch(this, Objects.requireNonNull(channel, "channel"), -1, external,
                onReadable, onWritable, null));
    }

    /**
     * Watches a raw file descriptor ({@code aio_set_fd_handler} with {@code io_poll}): an eventfd,
     * a Unix socket. With a {@code pollHandler} the loop busy-polls it and runs {@code onReadable}
     * when it reports work. Needs a monitor that takes raw fds (mq-native's epoll monitor); the
     * fd stays owned by the caller. Context: a thread holding the context.
     */
    public FdWatch watchFd(int fd, boolean external, Runnable onReadable, Runnable onWritable, PollHandler pollHandler) {
        if (fd < 0) {
            throw new IllegalArgumentException("fd must be >= 0, got " + fd);
        }
        return addWatch(new FdWatch(this, null, fd, external, onReadable, onWritable, pollHandler));
    }

    private FdWatch addWatch(FdWatch w) {
        assertHeld();
        ensureOpen();
        sources.addWatch(w); // the monitor registers it, or refuses it
        aioNotify(); // a sleeping loop must wait on the new source too
        return w;
    }

    /** {@link FdWatch#close()}: forget the watch. Context: a thread holding the context. */
    void unwatch(FdWatch w) {
        sources.removeWatch(w);
        monitor.remove(w);
    }

    FdMonitor monitor() {
        return monitor;
    }

    /** The kind of monitor this context sleeps in ({@code "selector"}, {@code "epoll"}). */
    public String monitorKind() {
        return monitor.kind();
    }

    // ---------------------------------------------------------------------------------------
    // External sources (aio_disable_external / aio_enable_external)

    /**
     * Silences external sources (guest notifiers, client sockets) until the matching {@link
     * #enableExternal()}; their events stay pending. Nests. A handler already running finishes;
     * none starts after this returns. Context: any thread.
     */
    public void disableExternal() {
        EXTERNAL_DISABLE_COUNT.getAndAdd(this, 1);
        aioNotify(); // let a sleeping loop drop its interest in external sources
    }

    /** Undoes one {@link #disableExternal()}; the last one kicks the loop. Context: any thread. */
    public void enableExternal() {
        int old = (int) EXTERNAL_DISABLE_COUNT.getAndAdd(this, -1);
        if (old <= 0) {
            EXTERNAL_DISABLE_COUNT.getAndAdd(this, 1);
            throw new IllegalStateException("AioContext '" + name + "': enableExternal without disableExternal");
        }
        if (old == 1) {
            aioNotify();
        }
    }

    /** Whether external sources are silenced. Context: any thread. */
    public boolean externalDisabled() {
        return externalDisableCount > 0;
    }

    // ---------------------------------------------------------------------------------------
    // Polling parameters, thread pool, statistics, lifecycle

    /**
     * Sets the adaptive polling parameters ({@code poll-max-ns}, {@code poll-grow},
     * {@code poll-shrink}); {@code maxNs == 0} disables busy polling. Context: any thread.
     */
    public void setPollParams(long maxNs, long grow, long shrink) {
        pollWindow.set(maxNs, grow, shrink);
    }

    public PollWindow pollWindow() {
        return pollWindow;
    }

    /**
     * This context's thread pool ({@code aio_get_thread_pool}), created on first use with the
     * default sizes. Context: a thread holding the context.
     */
    public ThreadPool threadPool() {
        assertHeld();
        if (threadPool == null) {
            threadPool = new ThreadPool(this, ThreadPool.DEFAULT_MIN_WORKERS, ThreadPool.DEFAULT_MAX_WORKERS,
                    ThreadPool.DEFAULT_IDLE_TIMEOUT_NS);
        }
        return threadPool;
    }

    public String name() {
        return name;
    }

    /** How many times a producer woke the sleeping loop (each one {@link FdMonitor#wakeup()} call). */
    public long wakeupCount() {
        return wakeups.get();
    }

    /** How many times the loop went to sleep. */
    public long sleepCount() {
        return sleeps;
    }

    /** How many blocking polls found work while busy polling, without sleeping. */
    public long busyPollHitCount() {
        return busyPollHits;
    }

    /** Whether the loop has announced that it may sleep (notifyMe raised). For tests and probes. */
    public boolean mayBeSleeping() {
        return notifyMe > 0;
    }

    private void ensureOpen() {
        if (closeState == CLOSED) {
            throw new IllegalStateException("AioContext '" + name + "' is closed");
        }
    }

    /**
     * Closes the context: its thread pool, watches and monitor. Fails, naming them, while bottom
     * halves are alive (created and not deleted, or one-shots not yet run): something still
     * expects them to run. A {@link #schedule} racing with close either lands before close looks
     * (and makes it fail) or learns that the context closed (and throws). Context: the home
     * thread outside {@link #poll}, or any thread once the home thread has stopped polling.
     *
     * @throws IllegalStateException naming the live bottom halves; the context stays open
     */
    @Override
    public void close() {
        acquire();
        try {
            if (closeState == CLOSED) {
                return;
            }
            if (pollDepth > 0) {
                throw new IllegalStateException("AioContext '" + name + "' cannot close inside its own poll");
            }
            if (threadPool != null) {
                threadPool.close();
                threadPool = null;
            }
            closeState = CLOSING; // before the marker's exchange: a scheduler behind it waits for the outcome
            List<String> live = bottomHalves.sealAndListLive();
            if (!live.isEmpty()) {
                closeState = OPEN;
                throw new IllegalStateException("AioContext '" + name + "' closed with live bottom halves: "
                        + String.join(", ", live));
            }
            sources.clear();
            monitor.close();
            closeState = CLOSED;
            if (CURRENT.get() == this) {
                CURRENT.remove();
            }
        } finally {
            release();
        }
    }

    public boolean isClosed() {
        return closeState == CLOSED;
    }

    @Override
    public String toString() {
        return "AioContext[" + name + "]";
    }
}
