package org.mqblock.core.loop;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.channels.CancelledKeyException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import org.mqblock.core.pool.ThreadPool;

/**
 * A single-threaded event loop ({@code AioContext}, QEMU's include/block/aio.h): bottom halves,
 * timers, event notifiers and channel readiness, dispatched by {@link #poll(boolean)} in the
 * context's home thread.
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
 *   <li>Timers, notifier and channel registrations: a thread holding the context.
 * </ul>
 *
 * <h2>Waking the loop ({@code aio_notify})</h2>
 * Before sleeping, a poll raises {@code notifyMe} and only then looks for work once more
 * (notified flag, bottom halves, timers); a producer publishes its work, sets {@code notified} and
 * only then reads {@code notifyMe}. All these are volatile, so one of the two sees the other:
 * either the loop finds the work or the producer wakes it (one unpark, plus {@link
 * Selector#wakeup()} once channels are watched). A producer that finds {@code notified} already
 * set does nothing: the loop clears that flag (accept) before it reads the work queues, so a pass
 * that will see this producer's work is still to come. While the loop runs handlers or busy-polls,
 * {@code notifyMe} is down and no producer makes a wakeup call; setting {@code notified} is what
 * ends a busy-poll (QEMU polls {@code ctx->notified} the same way).
 *
 * <h2>One poll</h2>
 * If blocking and nothing is pending: busy-poll for the adaptive window ({@link PollWindow}), then
 * raise {@code notifyMe} and sleep until notified, a channel is ready or the next timer is due. Then accept the notification
 * and run, in order: the bottom halves scheduled so far (one slice), ready channels, set event
 * notifiers and poll-ready handlers, due timers (inside one {@link DeferCall} region, so timers
 * that complete requests together raise one interrupt), and the bottom halves those scheduled (a second
 * slice; what that slice schedules runs in the next poll, so a self-rescheduling bottom half
 * cannot starve the others). Nested polls (a handler waiting with {@link AioWait}) take over the
 * outer slices first, as QEMU's slice list does.
 */
public final class AioContext implements AutoCloseable {

    private static final ThreadLocal<AioContext> CURRENT = new ThreadLocal<>();
    private static final long SELECT_MIN_NS = 1_000_000; // Selector timeouts are in milliseconds

    private static final VarHandle NOTIFIED;
    private static final VarHandle HOME;
    private static final VarHandle EXTERNAL_DISABLE_COUNT;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            NOTIFIED = l.findVarHandle(AioContext.class, "notified", boolean.class);
            HOME = l.findVarHandle(AioContext.class, "home", Thread.class);
            EXTERNAL_DISABLE_COUNT = l.findVarHandle(AioContext.class, "externalDisableCount", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final String name;
    private final NanoClock clock;
    private final PollWindow pollWindow = new PollWindow(0, 0, 0);
    private final TimerList timers = new TimerList(this);
    private final MpscLinkedQueue<BottomHalf> bhQueue = new MpscLinkedQueue<>();
    /** Fair, so a queued acquirer gets the lock before the loop takes it back for the next poll. */
    private final ReentrantLock lock = new ReentrantLock(true);

    /** Set once by the first poller (CAS), read by any thread (volatile). */
    private volatile Thread home;

    /** Any thread sets it (getAndSet); the home thread clears it (volatile store) as it accepts. */
    private volatile boolean notified;

    /** Home thread writes (volatile store); producers read it (volatile) to decide whether to wake. */
    private volatile int notifyMe;

    /** Any thread, atomic add; read with volatile loads by the loop before each dispatch. */
    private volatile int externalDisableCount;

    /** Written by the thread holding the context when it watches its first channel; read by any thread. */
    private volatile Selector selector;

    /** Written once by the thread holding the context (volatile: schedulers read it to refuse). */
    private volatile boolean closed;

    /** Named bottom halves not yet deleted; any thread adds and removes (concurrent set). */
    private final Set<BottomHalf> liveBottomHalves = ConcurrentHashMap.newKeySet();

    // Plain fields touched only by the thread holding the context.
    private BottomHalf sliceHead;
    private BottomHalf sliceTail;
    private long sliceAppended;
    private long sliceTaken;
    private int pollDepth;
    private EventNotifier[] notifiers = new EventNotifier[0]; // copy-on-write
    private int pollDisableCount; // sources without a PollHandler: busy polling would starve them
    private int watchCount;
    private boolean externalApplied;
    private ThreadPool threadPool;

    // Plain fields touched only by the home thread (in poll; select() fills readyKeys unlocked).
    private SelectionKey[] readyKeys = new SelectionKey[16];
    private int readyKeyCount;
    private EventNotifier[] pollReady = new EventNotifier[16];
    private int pollReadyCount;
    private final Consumer<SelectionKey> collectReadyKey = this::collectReadyKey;

    // Statistics.
    /** Producers that had to wake the sleeping loop; any thread increments. */
    private final AtomicLong wakeups = new AtomicLong();
    /** Home thread writes (volatile; at most once per poll); any thread reads. */
    private volatile long sleeps;
    /** Home thread writes (volatile; at most once per poll); any thread reads. */
    private volatile long busyPollHits;

    public AioContext(String name) {
        this(name, NanoClock.SYSTEM);
    }

    public AioContext(String name, NanoClock clock) {
        this.name = Objects.requireNonNull(name, "name");
        this.clock = Objects.requireNonNull(clock, "clock");
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
        liveBottomHalves.add(bh);
        return bh;
    }

    /**
     * Runs {@code callback} once in this context's thread ({@code aio_bh_schedule_oneshot}).
     * Wait-free; allocates one node per call (hot paths schedule a preallocated {@link
     * BottomHalf} instead). One-shots from one thread run in the order scheduled. Context: any
     * thread.
     */
    public void schedule(Runnable callback) {
        Objects.requireNonNull(callback, "callback");
        ensureOpen();
        enqueue(new BottomHalf(this, null, callback, BottomHalf.ONESHOT), BottomHalf.SCHEDULED);
    }

    void enqueue(BottomHalf bh, int flags) {
        int old = bh.markPending(flags);
        if ((old & BottomHalf.PENDING) == 0) {
            bhQueue.offer(bh);
            aioNotify();
        }
    }

    void forget(BottomHalf bh) {
        liveBottomHalves.remove(bh);
    }

    /** Moves what producers have queued onto the private slice list (QSLIST_MOVE_ATOMIC's role). */
    private void takeQueuedBottomHalves() {
        BottomHalf bh;
        while ((bh = bhQueue.poll()) != null) {
            if (sliceTail == null) {
                sliceHead = bh;
            } else {
                sliceTail.sliceNext = bh;
            }
            sliceTail = bh;
            sliceAppended++;
        }
    }

    /**
     * Runs the bottom halves queued when it starts ({@code aio_bh_poll}). Those they schedule land
     * behind this slice. A nested call takes over what is left of the outer slices (the counters
     * tell the outer call its slice is gone).
     */
    private boolean bhPoll() {
        takeQueuedBottomHalves();
        long sliceEnd = sliceAppended;
        boolean progress = false;
        while (sliceTaken < sliceEnd) {
            BottomHalf bh = sliceHead;
            sliceHead = bh.sliceNext;
            if (sliceHead == null) {
                sliceTail = null;
            }
            bh.sliceNext = null;
            sliceTaken++;
            int old = bh.takeFlags();
            if ((old & (BottomHalf.SCHEDULED | BottomHalf.DELETED)) == BottomHalf.SCHEDULED) {
                progress = true;
                bh.callback.run();
            }
        }
        return progress;
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
        // Pairs with the notifyMe store and notified load in poll: both sides are volatile.
        if (!notified && !(boolean) NOTIFIED.getAndSet(this, true) && notifyMe > 0) {
            wake();
        }
    }

    private void wake() {
        wakeups.incrementAndGet();
        Selector sel = selector;
        if (sel != null) {
            sel.wakeup(); // the loop may sleep in select() ...
        }
        Thread h = home;
        if (h != null) {
            LockSupport.unpark(h); // ... or in park() (no channels, or a timer due within 1 ms)
        }
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
        boolean externalDisabled = applyExternalState();
        int keyBase = readyKeyCount;
        int pollReadyBase = pollReadyCount;
        try {
            boolean selected = false;
            if (blocking) {
                selected = waitForWork(externalDisabled);
            }
            if (selector != null && !selected) {
                selectNow();
            }
            notified = false; // aio_notify_accept: volatile store before the loads of the queues below

            boolean progress = bhPoll();
            progress |= dispatchReadyChannels(keyBase);
            progress |= dispatchEventNotifiers();
            progress |= dispatchPollReady(pollReadyBase);
            if (timers.armedCount() > 0) {
                // Timers due together complete together: what they defer (an interrupt) runs once.
                DeferCall.begin();
                try {
                    progress |= timers.runDue(clock.nanoTime());
                } finally {
                    DeferCall.end();
                }
            }
            progress |= bhPoll();
            if (progress) {
                AioWait.kick();
            }
            return progress;
        } finally {
            Arrays.fill(readyKeys, keyBase, readyKeyCount, null);
            readyKeyCount = keyBase;
            Arrays.fill(pollReady, pollReadyBase, pollReadyCount, null);
            pollReadyCount = pollReadyBase;
        }
    }

    /**
     * The blocking part of a poll: busy-poll with notifyMe down, so producers only set
     * {@code notified} (which ends the spin) and make no wakeup call; then raise notifyMe, look
     * once more and sleep. Returns whether it slept in select() (the ready channels are then
     * already collected).
     */
    private boolean waitForWork(boolean externalDisabled) {
        long timeout = computeTimeoutNs();
        if (timeout == 0) {
            return false;
        }
        long maxNs = pollWindow.maxNs();
        long start = maxNs > 0 ? clock.nanoTime() : 0;
        boolean selected = false;
        if (!busyPoll(timeout, externalDisabled) && !notified) {
            notifyMe = notifyMe + 1; // only the home thread writes; volatile store, then the loads below
            try {
                timeout = computeTimeoutNs();
                if (timeout != 0) {
                    selected = sleep(timeout);
                }
            } finally {
                notifyMe = notifyMe - 1;
            }
        }
        if (maxNs > 0) {
            pollWindow.adjust(clock.nanoTime() - start);
        }
        return selected;
    }

    /** 0 when there is work now, -1 to sleep without a deadline, else nanoseconds to the next timer. */
    private long computeTimeoutNs() {
        if (notified || sliceHead != null || !bhQueue.isEmpty()) {
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
        if (window == 0 || pollDisableCount > 0) {
            return false;
        }
        long budget = timeout < 0 ? window : Math.min(window, timeout);
        EventNotifier[] sources = notifiers;
        for (EventNotifier n : sources) {
            if (n.pollHandler != null && !(n.external && externalDisabled)) {
                n.pollHandler.pollBegin();
            }
        }
        boolean found = false;
        try {
            long deadline = clock.nanoTime() + budget;
            do {
                found = pollHandlersOnce(sources, externalDisabled);
                if (found || notified || lock.hasQueuedThreads()) {
                    break;
                }
                Thread.onSpinWait();
            } while (clock.nanoTime() - deadline < 0);
        } finally {
            for (EventNotifier n : sources) {
                if (n.pollHandler != null && !(n.external && externalDisabled)) {
                    n.pollHandler.pollEnd();
                }
            }
        }
        if (!found) {
            // Notifications were suppressed while polling: anything that arrived meanwhile is only
            // visible to one more look. Also when a notify ended the phase: the window may have
            // shrunk to 0 meanwhile, and then no later busy poll would look.
            found = pollHandlersOnce(sources, externalDisabled);
        }
        if (found) {
            busyPollHits = busyPollHits + 1;
        }
        return found;
    }

    private boolean pollHandlersOnce(EventNotifier[] sources, boolean externalDisabled) {
        boolean found = false;
        for (EventNotifier n : sources) {
            PollHandler p = n.pollHandler;
            if (p != null && !(n.external && externalDisabled) && p.poll()) {
                if (pollReadyCount == pollReady.length) {
                    pollReady = Arrays.copyOf(pollReady, pollReadyCount * 2);
                }
                pollReady[pollReadyCount++] = n;
                found = true;
            }
        }
        return found;
    }

    /**
     * Sleeps until notified, a watched channel is ready, or {@code timeoutNs} passes (-1: no
     * deadline). Lets go of the lock while sleeping unless the poll is nested in a handler.
     * Returns whether it slept in select().
     */
    private boolean sleep(long timeoutNs) {
        Selector sel = selector;
        boolean release = lock.getHoldCount() == 1;
        if (release) {
            lock.unlock();
        }
        sleeps = sleeps + 1;
        try {
            if (sel != null && (timeoutNs < 0 || timeoutNs >= SELECT_MIN_NS)) {
                // Round down: waking up to 1 ms early re-enters sleep and parks the rest precisely.
                long ms = timeoutNs < 0 ? 0 : timeoutNs / SELECT_MIN_NS;
                sel.select(collectReadyKey, ms);
                return true;
            }
            long deadline = timeoutNs < 0 ? 0 : clock.nanoTime() + timeoutNs;
            while (!notified && !Thread.currentThread().isInterrupted()) {
                if (timeoutNs < 0) {
                    LockSupport.park(this);
                } else {
                    long left = deadline - clock.nanoTime();
                    if (left <= 0) {
                        break;
                    }
                    LockSupport.parkNanos(this, left);
                }
            }
            return false;
        } catch (IOException e) {
            throw new UncheckedIOException("AioContext '" + name + "': select failed", e);
        } finally {
            if (release) {
                lock.lock();
            }
        }
    }

    private void selectNow() {
        try {
            selector.selectNow(collectReadyKey);
        } catch (IOException e) {
            throw new UncheckedIOException("AioContext '" + name + "': selectNow failed", e);
        }
    }

    private void collectReadyKey(SelectionKey key) {
        if (readyKeyCount == readyKeys.length) {
            readyKeys = Arrays.copyOf(readyKeys, readyKeyCount * 2);
        }
        readyKeys[readyKeyCount++] = key;
    }

    private boolean dispatchReadyChannels(int base) {
        boolean progress = false;
        int end = readyKeyCount;
        for (int i = base; i < end; i++) {
            SelectionKey key = readyKeys[i];
            try {
                progress |= ((ChannelWatch) key.attachment()).dispatch(externalDisabled());
            } catch (CancelledKeyException e) {
                // closed by an earlier handler in this pass
            }
        }
        return progress;
    }

    private boolean dispatchEventNotifiers() {
        boolean progress = false;
        for (EventNotifier n : notifiers) {
            if (n.context() == this && !(n.external && externalDisabled()) && n.testAndClear()) {
                progress = true;
                n.handler.run();
            }
        }
        return progress;
    }

    /** Runs the handlers whose poll function found work ({@code io_poll_ready}). */
    private boolean dispatchPollReady(int base) {
        int end = pollReadyCount;
        for (int i = base; i < end; i++) {
            EventNotifier n = pollReady[i];
            if (n.context() == this && !(n.external && externalDisabled())) {
                n.handler.run();
            }
        }
        return end > base;
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
        if (closed) {
            throw new IllegalStateException("AioContext '" + name + "' is closed");
        }
    }

    /**
     * Makes the calling thread this context's home thread (IOThreads do this as they start).
     * Context: the thread that will poll.
     */
    void bindHomeThread() {
        Thread t = Thread.currentThread();
        if (!HOME.compareAndSet(this, null, t) && home != t) {
            throw new IllegalStateException("AioContext '" + name + "' already has home thread '"
                    + home.getName() + "'");
        }
        CURRENT.set(this);
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
    // Event notifiers and channels

    /**
     * Watches {@code notifier}: when it is set, {@code handler} runs in this context
     * ({@code aio_set_event_notifier}). With a {@code pollHandler}, the loop busy-polls it instead
     * of waiting, and runs {@code handler} when it reports work. A context busy-polls only while
     * every source it watches has a poll handler (QEMU's rule). Calling again updates the
     * registration. Context: a thread holding the context.
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
            pollDisableCount -= notifier.pollHandler == null ? 1 : 0;
        } else {
            notifiers = append(notifiers, notifier);
        }
        notifier.register(this, external, handler, pollHandler);
        pollDisableCount += pollHandler == null ? 1 : 0;
        if (notifier.isSet()) {
            aioNotify(); // set while nobody watched it
        }
    }

    /** Stops watching {@code notifier}. Context: a thread holding the context. */
    public void removeEventNotifier(EventNotifier notifier) {
        assertHeld();
        if (notifier.context() != this) {
            throw new IllegalStateException(notifier + " is not watched by AioContext '" + name + "'");
        }
        EventNotifier[] old = notifiers;
        EventNotifier[] now = new EventNotifier[old.length - 1];
        for (int i = 0, j = 0; i < old.length; i++) {
            if (old[i] != notifier) {
                now[j++] = old[i];
            }
        }
        notifiers = now;
        pollDisableCount -= notifier.pollHandler == null ? 1 : 0;
        notifier.unregister();
    }

    /**
     * Watches a channel for readiness ({@code aio_set_fd_handler}); the channel is switched to
     * non-blocking mode. A null handler means no interest in that direction. Channel sources have
     * no poll handler, so a context that watches channels does not busy-poll. Context: a thread
     * holding the context.
     */
    public ChannelWatch watchChannel(SelectableChannel channel, boolean external, Runnable onReadable, Runnable onWritable) {
        assertHeld();
        ensureOpen();
        try {
            Selector sel = selector;
            if (sel == null) {
                sel = Selector.open();
                selector = sel;
            }
            channel.configureBlocking(false);
            SelectionKey key;
            try {
                key = channel.register(sel, 0);
            } catch (CancelledKeyException e) {
                sel.selectNow(); // a key cancelled earlier is deregistered at the next selection
                key = channel.register(sel, 0);
            }
            ChannelWatch watch = new ChannelWatch(this, channel, key, external, onReadable, onWritable);
            key.attach(watch);
            watch.applyInterest(externalDisabled());
            watchCount++;
            pollDisableCount++;
            aioNotify(); // a loop sleeping in park() must start selecting
            return watch;
        } catch (ClosedChannelException e) {
            throw new IllegalArgumentException("cannot watch a closed channel: " + channel, e);
        } catch (IOException e) {
            throw new UncheckedIOException("AioContext '" + name + "': cannot watch " + channel, e);
        }
    }

    void unwatch(ChannelWatch watch) {
        watchCount--;
        pollDisableCount--;
    }

    private static EventNotifier[] append(EventNotifier[] a, EventNotifier n) {
        EventNotifier[] b = Arrays.copyOf(a, a.length + 1);
        b[a.length] = n;
        return b;
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
        aioNotify(); // let a sleeping loop drop its interest in external channels
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

    /** Brings channel interest in line with the external-disable state; returns that state. */
    private boolean applyExternalState() {
        boolean disabled = externalDisabled();
        if (disabled != externalApplied) {
            externalApplied = disabled;
            if (watchCount > 0) {
                for (SelectionKey key : selector.keys()) {
                    if (key.attachment() instanceof ChannelWatch w) {
                        w.applyInterest(disabled);
                    }
                }
            }
        }
        return disabled;
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

    /** How many times a producer woke the sleeping loop (each one unpark or selector wakeup). */
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
        if (closed) {
            throw new IllegalStateException("AioContext '" + name + "' is closed");
        }
    }

    /**
     * Closes the context: its thread pool and selector. Fails, naming them, while bottom halves
     * are alive (created and not deleted, or one-shots not yet run): something still expects them
     * to run. Context: the home thread outside {@link #poll}, or any thread once the home thread
     * has stopped polling.
     *
     * @throws IllegalStateException naming the live bottom halves; the context stays open
     */
    @Override
    public void close() {
        acquire();
        try {
            if (closed) {
                return;
            }
            if (pollDepth > 0) {
                throw new IllegalStateException("AioContext '" + name + "' cannot close inside its own poll");
            }
            if (threadPool != null) {
                threadPool.close();
                threadPool = null;
            }
            takeQueuedBottomHalves();
            List<String> live = new ArrayList<>();
            for (BottomHalf bh : liveBottomHalves) {
                live.add(bh.name());
            }
            for (BottomHalf bh = sliceHead; bh != null; bh = bh.sliceNext) {
                int f = bh.flags();
                if ((f & BottomHalf.ONESHOT) != 0 && (f & (BottomHalf.SCHEDULED | BottomHalf.DELETED)) == BottomHalf.SCHEDULED) {
                    live.add(bh.name() + " (scheduled, not run)");
                }
            }
            if (!live.isEmpty()) {
                throw new IllegalStateException("AioContext '" + name + "' closed with live bottom halves: "
                        + String.join(", ", live));
            }
            for (EventNotifier n : notifiers) {
                n.unregister();
            }
            notifiers = new EventNotifier[0];
            Selector sel = selector;
            if (sel != null) {
                try {
                    sel.close();
                } catch (IOException e) {
                    throw new UncheckedIOException("AioContext '" + name + "': closing the selector", e);
                }
            }
            closed = true;
            if (CURRENT.get() == this) {
                CURRENT.remove();
            }
        } finally {
            release();
        }
    }

    public boolean isClosed() {
        return closed;
    }

    @Override
    public String toString() {
        return "AioContext[" + name + "]";
    }
}
