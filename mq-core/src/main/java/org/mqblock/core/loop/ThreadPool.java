package org.mqblock.core.loop;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.IntConsumer;
import java.util.function.IntSupplier;
import net.openhft.affinity.Affinity;
import net.openhft.affinity.AffinityLock;
import org.mqblock.core.ring.MpscLinkedQueue;

/**
 * Worker threads for blocking work, bound to one {@link AioContext} (after QEMU's
 * util/thread-pool.c): work is submitted from the context, runs on a worker, and its completion
 * runs back in the context as a bottom half, inside a {@link DeferCall} region so that a batch of
 * completions can coalesce what they defer (one guest interrupt for many requests).
 *
 * <p>Between {@code minWorkers} and {@code maxWorkers} workers exist; a worker idle for the idle
 * timeout exits while more than {@code minWorkers} remain. Workers reset their CPU mask to the
 * process's, so those started from a pinned IOThread do not all crowd onto its CPU.
 *
 * <p>Requests are objects the caller may preallocate and reuse ({@link Request}), so submitting
 * allocates nothing. A request still queued can be cancelled: its completion then runs with
 * {@link #ECANCELED}.
 */
public final class ThreadPool implements AutoCloseable {

    public static final int DEFAULT_MIN_WORKERS = 0;
    public static final int DEFAULT_MAX_WORKERS = 64;
    public static final long DEFAULT_IDLE_TIMEOUT_NS = TimeUnit.SECONDS.toNanos(10);

    /** Completion status of a cancelled request (-ECANCELED). */
    public static final int ECANCELED = -125;
    /** Completion status of a request whose work threw (-EIO); {@link Request#failure()} has why. */
    public static final int EIO = -5;

    /**
     * A unit of work and its completion. Subclass it and reuse instances: a request may be
     * submitted again once its {@link #complete} has started.
     */
    public abstract static class Request extends MpscLinkedQueue.Node {
        static final int IDLE = 0;
        static final int QUEUED = 1;
        static final int ACTIVE = 2;
        static final int DONE = 3;

        // state, ret, failure: QUEUED -> ACTIVE and QUEUED -> DONE (cancel) happen under the pool
        // lock; after ACTIVE only the worker writes them. The context thread reads them after
        // taking the request from the done queue, whose exchange/acquire chain publishes them.
        private int state = IDLE;
        private int ret;
        private Throwable failure;

        /** The blocking work; returns a status (>= 0 success, negative errno). Context: a worker. */
        protected abstract int run();

        /** Runs in the pool's context with {@code run()}'s status, {@link #ECANCELED} or {@link #EIO}. */
        protected abstract void complete(int ret);

        /** What {@link #run()} threw, when the status is {@link #EIO} for that reason. */
        public final Throwable failure() {
            return failure;
        }
    }

    private final AioContext ctx;
    private final BottomHalf completionBh;
    private final MpscLinkedQueue<Request> done = new MpscLinkedQueue<>();
    private final long idleTimeoutNs;

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition workAvailable = lock.newCondition();
    // Guarded by lock.
    private final ArrayDeque<Request> queue = new ArrayDeque<>();
    private final List<Thread> threads = new ArrayList<>();
    private int workers;
    private int idleWorkers;
    /** Spawned but not yet looking for work: each will take a queued request. */
    private int startingWorkers;
    private int minWorkers;
    private int maxWorkers;
    private int spawned;
    private boolean closing;

    /** The pool's context only, plain: submitted and not yet completed. */
    private int inFlight;

    /**
     * Creates a pool whose completions run in {@code ctx} and starts {@code minWorkers} workers.
     * Context: any thread (usually through {@link AioContext#threadPool()}).
     */
    public ThreadPool(AioContext ctx, int minWorkers, int maxWorkers, long idleTimeoutNs) {
        if (minWorkers < 0 || maxWorkers < 1 || minWorkers > maxWorkers) {
            throw new IllegalArgumentException("need 0 <= minWorkers <= maxWorkers and maxWorkers >= 1, got min "
                    + minWorkers + ", max " + maxWorkers);
        }
        if (idleTimeoutNs <= 0) {
            throw new IllegalArgumentException("idleTimeoutNs must be > 0, got " + idleTimeoutNs);
        }
        this.ctx = Objects.requireNonNull(ctx, "ctx");
        this.idleTimeoutNs = idleTimeoutNs;
        this.completionBh = ctx.newBottomHalf("thread-pool-completion", this::runCompletions);
        lock.lock();
        try {
            this.minWorkers = minWorkers;
            this.maxWorkers = maxWorkers;
            while (workers < minWorkers) {
                spawnWorker();
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * Queues {@code request}; its {@code run()} executes on a worker and its {@code complete()}
     * back in this pool's context. Allocates nothing. Context: a thread holding the pool's
     * context.
     *
     * @throws IllegalStateException if the request is already in flight or the pool is closed
     */
    public void submit(Request request) {
        requireContext("submit");
        if (request.state != Request.IDLE) {
            throw new IllegalStateException("request " + request + " is already in flight");
        }
        lock.lock();
        try {
            if (closing) {
                throw new IllegalStateException("thread pool of AioContext '" + ctx.name() + "' is closed");
            }
            request.state = Request.QUEUED;
            request.ret = 0;
            request.failure = null;
            inFlight++;
            queue.addLast(request);
            // More queued than idle or starting workers will take: add one (thread-pool.c
            // spawns only when none is idle, which serves a burst with a single idle worker).
            if (queue.size() > idleWorkers + startingWorkers && workers < maxWorkers) {
                spawnWorker();
            }
            workAvailable.signal();
        } finally {
            lock.unlock();
        }
    }

    /** Convenience form of {@link #submit(Request)} that allocates a request; returns it for cancel. */
    public Request submit(IntSupplier work, IntConsumer completion) {
        Objects.requireNonNull(work, "work");
        Objects.requireNonNull(completion, "completion");
        Request r = new Request() {
            @Override
            protected int run() {
                return work.getAsInt();
            }

            @Override
            protected void complete(int ret) {
                completion.accept(ret);
            }
        };
        submit(r);
        return r;
    }

    /**
     * Cancels {@code request} if no worker has taken it yet; its completion then runs (in a
     * later bottom half) with {@link #ECANCELED}. Returns whether it was cancelled. Context: a
     * thread holding the pool's context.
     */
    public boolean cancel(Request request) {
        requireContext("cancel");
        lock.lock();
        try {
            if (request.state != Request.QUEUED) {
                return false;
            }
            queue.remove(request);
            request.ret = ECANCELED;
            request.state = Request.DONE;
        } finally {
            lock.unlock();
        }
        done.offer(request);
        completionBh.schedule();
        return true;
    }

    private void spawnWorker() {
        // Runs with lock held.
        workers++;
        startingWorkers++;
        Thread t = new Thread(this::workerLoop, ctx.name() + "-worker-" + spawned++);
        t.setDaemon(true);
        threads.add(t);
        t.start();
    }

    private void workerLoop() {
        resetAffinity();
        lock.lock();
        try {
            startingWorkers--;
            while (workers <= maxWorkers) {
                Request r = queue.pollFirst();
                if (r == null) {
                    if (!awaitWork() && queue.isEmpty() && workers > minWorkers) {
                        break; // idle for the whole timeout, and not needed warm
                    }
                    continue; // re-check the limits before taking work
                }
                r.state = Request.ACTIVE;
                lock.unlock();
                try {
                    execute(r);
                } finally {
                    lock.lock();
                }
            }
            workers--;
            threads.remove(Thread.currentThread());
            workAvailable.signal(); // pass on a wakeup this worker may have consumed
        } finally {
            lock.unlock();
        }
    }

    /** Waits for work with lock held; returns false when the idle timeout passed. */
    private boolean awaitWork() {
        idleWorkers++;
        try {
            return workAvailable.awaitNanos(idleTimeoutNs) > 0;
        } catch (InterruptedException e) {
            return true; // nobody interrupts workers on purpose: just look again
        } finally {
            idleWorkers--;
        }
    }

    private void execute(Request r) {
        int ret;
        try {
            ret = r.run();
        } catch (Throwable t) {
            r.failure = t;
            ret = EIO;
        }
        r.ret = ret;
        r.state = Request.DONE;
        done.offer(r); // publishes ret/state to the context (exchange on the queue's tail)
        completionBh.schedule();
    }

    /** The completion bottom half ({@code thread_pool_completion_bh}). */
    private void runCompletions() {
        boolean rescheduled = false;
        DeferCall.begin();
        try {
            while (true) {
                Request r = done.poll();
                if (r == null) {
                    if (!rescheduled) {
                        break;
                    }
                    // Cancel, then look again: a worker that scheduled before the cancel has
                    // already offered its request, one that schedules after it runs us again.
                    completionBh.cancel();
                    rescheduled = false;
                    if (done.isEmpty()) {
                        break;
                    }
                    continue;
                }
                inFlight--;
                int ret = r.ret;
                r.state = Request.IDLE;
                if (!done.isEmpty()) {
                    // complete() may wait in a nested poll for a request that is already done:
                    // that poll must run this bottom half again (thread-pool.c does the same).
                    completionBh.schedule();
                    rescheduled = true;
                }
                r.complete(ret);
            }
        } finally {
            DeferCall.end();
        }
    }

    private static void resetAffinity() {
        try {
            Affinity.setAffinity(AffinityLock.BASE_AFFINITY);
        } catch (RuntimeException | LinkageError e) {
            // no affinity support here: workers simply inherit their creator's mask
        }
    }

    private void requireContext(String what) {
        if (!ctx.isHeldByCurrentThread()) {
            throw new IllegalStateException("ThreadPool." + what + " must run holding AioContext '"
                    + ctx.name() + "' (thread '" + Thread.currentThread().getName() + "')");
        }
    }

    /** Requests submitted and not yet completed. Context: a thread holding the pool's context. */
    public int inFlight() {
        return inFlight;
    }

    /** Worker threads alive now. Context: any thread. */
    public int workers() {
        lock.lock();
        try {
            return workers;
        } finally {
            lock.unlock();
        }
    }

    /** Workers waiting for work now. Context: any thread. */
    public int idleWorkers() {
        lock.lock();
        try {
            return idleWorkers;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Stops and joins every worker, then deletes the completion bottom half. Context: a thread
     * holding the pool's context.
     *
     * @throws IllegalStateException if requests are still in flight (their completions would be
     *     lost); the pool stays usable
     */
    @Override
    public void close() {
        requireContext("close");
        if (inFlight > 0) {
            throw new IllegalStateException("thread pool of AioContext '" + ctx.name() + "' closed with "
                    + inFlight + " request(s) in flight");
        }
        List<Thread> toJoin;
        lock.lock();
        try {
            if (closing) {
                return;
            }
            closing = true;
            minWorkers = 0;
            maxWorkers = 0;
            workAvailable.signalAll();
            toJoin = new ArrayList<>(threads);
        } finally {
            lock.unlock();
        }
        boolean interrupted = false;
        for (Thread t : toJoin) {
            while (true) {
                try {
                    t.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        completionBh.delete();
    }
}
