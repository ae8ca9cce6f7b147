package org.mqblock.core.loop;

import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import net.openhft.affinity.Affinity;
import net.openhft.affinity.AffinityLock;

/**
 * A named thread running one {@link AioContext} ({@code -object iothread}): {@code while
 * (running) ctx.poll(true)}, pinned to a CPU with Chronicle Affinity when asked and when the
 * machine allows it. What it asked for and what it got are both reported ({@link #info()}, like
 * {@code query-iothreads}): on a small machine several IOThreads may share a CPU or get none.
 *
 * <p>A handler that throws, an {@code Error} included, does not kill the thread: its owner is told
 * (a failing fd watch's failure handler, see {@link AioContext}), the failure is counted, the
 * first one kept ({@link #failureCount()}, {@link #firstFailure()}) and printed, and the loop goes
 * on serving every other source.
 *
 * <p>The thread sets its timer slack to 1 ns ({@link TimerSlack}, as QEMU does), so its timed
 * sleeps end when their deadline says; {@link Info#timerSlackNs()} says whether that worked.
 *
 * <p>Stopping is itself a bottom half ({@code iothread_stop_bh}): whatever was scheduled before
 * {@link #stop()} runs first.
 *
 * <p>Worker threads started from a pinned IOThread would inherit its CPU mask; the {@link
 * ThreadPool} resets its workers to the process's mask.
 */
public final class IOThread implements AutoCloseable {

    /** Pin to whichever CPU Chronicle Affinity can reserve. */
    public static final int ANY_CPU = -1;
    /** Do not pin. */
    public static final int UNPINNED = -2;

    /** What {@code query-iothreads} would say about this thread. */
    public record Info(String id, long threadId, int cpuRequested, int cpuBound, boolean bound,
                       String pinning, long pollMaxNs, long pollNs, String fdMonitor, long timerSlackNs) {}

    private final String id;
    private final int cpuRequested;
    private final AioContext ctx;
    private final Thread thread;
    private final CountDownLatch started = new CountDownLatch(1);

    /**
     * Cleared by the stop bottom half in this thread, or by stop() when the context is already
     * closed (no bottom half can run then); read by the loop each iteration (volatile).
     */
    private volatile boolean running = true;
    /** Set once by the first stop() (CAS), so one stop bottom half is scheduled. */
    private final AtomicBoolean stopRequested = new AtomicBoolean();

    // Written by the IOThread before `started` counts down; read by others after awaiting it.
    private long threadId = -1;
    private int cpuBound = -1;
    private String pinning = "not requested";
    /** The thread's timer slack after it set it to 1 ns, or -1 where it could not ({@link TimerSlack}). */
    private long timerSlackNs = -1;

    private final AtomicLong failures = new AtomicLong();
    /** Interrupts the loop found and cleared; the IOThread increments, any thread reads. */
    private final AtomicLong strayInterrupts = new AtomicLong();
    /** Written once by the IOThread (volatile). */
    private volatile Throwable firstFailure;

    private IOThread(String id, int cpu, long pollMaxNs, FdMonitor.Factory monitor) {
        this.id = Objects.requireNonNull(id, "id");
        if (cpu < UNPINNED) {
            throw new IllegalArgumentException("cpu must be >= 0, ANY_CPU or UNPINNED, got " + cpu);
        }
        this.cpuRequested = cpu;
        this.ctx = new AioContext(id, NanoClock.SYSTEM, monitor);
        ctx.setPollParams(pollMaxNs, 0, 0);
        ctx.setFailureListener((source, failure) -> recordFailure(source, failure));
        this.thread = new Thread(this::run, id);
        thread.setDaemon(true);
    }

    /** Starts an IOThread with QEMU's default polling (32768 ns maximum). */
    public static IOThread start(String id, int cpu) {
        return start(id, cpu, PollWindow.DEFAULT_MAX_NS);
    }

    /**
     * Starts an IOThread and returns once it runs its loop (pinned or not, as reported by {@link
     * #info()}). Context: any thread.
     *
     * @param cpu a CPU number, {@link #ANY_CPU} or {@link #UNPINNED}
     */
    public static IOThread start(String id, int cpu, long pollMaxNs) {
        return start(id, cpu, pollMaxNs, FdMonitor.SELECTOR);
    }

    /**
     * Starts an IOThread whose context sleeps in the monitor {@code monitor} makes (the epoll
     * monitor for raw fds). Context: any thread.
     */
    public static IOThread start(String id, int cpu, long pollMaxNs, FdMonitor.Factory monitor) {
        IOThread t = new IOThread(id, cpu, pollMaxNs, monitor);
        t.thread.start();
        try {
            t.started.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while starting IOThread " + id, e);
        }
        return t;
    }

    private void run() {
        ctx.bindHomeThread();
        AffinityLock cpuLock = pin();
        timerSlackNs = TimerSlack.setOwn(threadId, 1);
        started.countDown();
        try {
            while (running) {
                try {
                    ctx.poll(true);
                } catch (Throwable e) {
                    if (ctx.isClosed()) {
                        break; // closed under the running loop: nothing is left to serve
                    }
                    // Not a handler's (those go to the failure listener): the loop itself, e.g.
                    // its monitor. Back off a little so that a persistent fault does not spin.
                    recordFailure(ctx, e);
                    LockSupport.parkNanos(1_000_000);
                }
                if (Thread.interrupted()) {
                    // Nobody stops an IOThread by interrupting it; a stray interrupt left set
                    // would make every sleep return at once and the loop spin.
                    strayInterrupts.incrementAndGet();
                }
            }
        } finally {
            if (cpuLock != null) {
                cpuLock.release();
            }
        }
    }

    private AffinityLock pin() {
        try {
            threadId = Affinity.getThreadId();
        } catch (RuntimeException | LinkageError e) {
            threadId = -1;
        }
        if (cpuRequested == UNPINNED) {
            return null;
        }
        try {
            AffinityLock lock = cpuRequested == ANY_CPU ? AffinityLock.acquireLock() : AffinityLock.acquireLock(cpuRequested);
            if (lock.isBound()) {
                cpuBound = lock.cpuId();
                pinning = cpuRequested == ANY_CPU || cpuBound == cpuRequested
                        ? "bound" : "bound to another CPU (" + cpuRequested + " not reservable)";
                return lock;
            }
            lock.release();
            pinning = "no reservable CPU left (Chronicle Affinity never hands out CPU 0)";
        } catch (RuntimeException | LinkageError e) {
            pinning = "pinning unavailable: " + e;
        }
        return null;
    }

    private void recordFailure(Object source, Throwable e) {
        if (failures.getAndIncrement() == 0) {
            firstFailure = e;
            System.err.println("IOThread " + id + ": " + source + " failed (later failures are only counted):");
            e.printStackTrace();
        }
    }

    /**
     * Stops the loop after what was scheduled before this call has run, and waits for the thread
     * to end. Idempotent. Context: any thread but this IOThread, not holding its context.
     *
     * @throws IllegalStateException from the IOThread itself, or from a thread holding its
     *         context (the loop needs the context to finish its poll, so that would wait forever)
     */
    public void stop() {
        if (Thread.currentThread() == thread) {
            throw new IllegalStateException("IOThread " + id + " cannot stop itself");
        }
        if (ctx.isHeldByCurrentThread()) {
            throw new IllegalStateException("IOThread " + id + ": stop() from thread '" + Thread.currentThread().getName()
                    + "', which holds its context, would wait forever for the loop; release the context first");
        }
        if (thread.isAlive() && stopRequested.compareAndSet(false, true)) {
            try {
                ctx.schedule(() -> running = false); // iothread_stop_bh: behind everything scheduled so far
            } catch (IllegalStateException closed) {
                running = false; // the context was closed under the loop (a misuse): its next poll fails and it ends
            }
        }
        boolean interrupted = false;
        while (true) {
            try {
                thread.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** Stops the thread, then closes its context (which fails if bottom halves are still alive). */
    @Override
    public void close() {
        stop();
        ctx.close();
    }

    public AioContext context() {
        return ctx;
    }

    public String id() {
        return id;
    }

    public boolean isRunning() {
        return thread.isAlive();
    }

    public Info info() {
        return new Info(id, threadId, cpuRequested, cpuBound, cpuBound >= 0, pinning,
                ctx.pollWindow().maxNs(), ctx.pollWindow().ns(), ctx.monitorKind(), timerSlackNs);
    }

    /**
     * CPU time this thread has used so far, in nanoseconds (user + system, from the JVM's thread
     * CPU clock), or -1 where the JVM cannot tell. Context: any thread.
     */
    public long cpuTimeNs() {
        java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
        return mx.isThreadCpuTimeSupported() ? mx.getThreadCpuTime(thread.getId()) : -1;
    }

    public long failureCount() {
        return failures.get();
    }

    public Throwable firstFailure() {
        return firstFailure;
    }

    /** Interrupts delivered to this thread, which it clears and otherwise ignores. */
    public long strayInterruptCount() {
        return strayInterrupts.get();
    }

    @Override
    public String toString() {
        return "IOThread[" + id + ", cpu " + (cpuBound >= 0 ? cpuBound : "unpinned") + "]";
    }
}
