package org.mqblock.memory;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.mqblock.core.loop.AioContext;

/**
 * The writer barrier of an {@link AddressSpace}: every RAM write made through a {@link Dma} runs
 * inside the gate, so that the main loop can stop all guest-memory writers ({@link #pause}, the
 * memory side of QEMU's {@code vm_stop}: {@code pause_all_vcpus} plus draining the devices) and
 * wait for the writes already under way to finish ({@link #synchronize}, a grace period as in
 * {@code synchronize_rcu}). Live migration uses both: a grace period after starting the dirty log,
 * so that no write that missed the log can still be landing, and a pause for stop-and-copy.
 *
 * <h2>Protocol</h2>
 * Each writing thread owns a {@link Slot}: one word holding how many writable {@link DmaMapping}s
 * it holds (bits 0-15), whether it is inside a write (bits 16-31) and how many writes it has
 * finished (bits 32-63). A write enters with a volatile {@code getAndAdd} on its slot and then
 * reads the gate's state (volatile); it leaves with one volatile {@code getAndAdd} that drops the
 * write count and bumps the finished count. A writable mapping counts in the low bits from map to
 * unmap, and its unmap, which marks the pages dirty, is a write. {@link #pause} stores the state
 * (volatile) and then reads every slot (volatile). Both sides store, then load, with full ordering
 * (the Dekker pattern): either the writer sees the pause and backs out before touching memory, or
 * the pauser sees it inside and waits for it to leave; its leaving (a release) happens-before the
 * pauser's read that sees it, so the pauser then sees everything the write stored. An entry by a
 * thread already inside (a write while it holds a writable mapping) never waits: the pauser is
 * waiting for that thread anyway.
 *
 * <p>{@link #synchronize} waits only for writes, not for mappings merely held: what a grace period
 * protects is a write's read of state (the dirty-log mask) that the caller just changed, and a
 * mapping reads the mask at unmap, inside a write of its own.
 *
 * <p>A writer that finds the gate paused parks until {@link #resume}. Before parking it releases
 * its device's {@link AioContext} completely (restoring the depth afterwards), as {@code
 * AIO_WAIT_WHILE} does: a thread still inside the gate (holding a writable mapping) may need that
 * context to finish, for instance to dispatch an MMIO access to the parked device, and the pauser
 * waits for it. Releasing makes the parked thread hold nothing, so nothing waits on it. The parked
 * device must be consistent at that point, which it already must be at every DMA it issues (see
 * {@link DispatchPolicy#RELEASE_REACQUIRE}).
 *
 * <p>Cost to a writer: two uncontended atomic RMWs on its own (padded) slot and one volatile load
 * per write. RAM reads do not enter the gate.
 */
public final class WriteGate {

    private static final int RUNNING = 0;
    private static final int PAUSED = 1;

    static final long MAP_ONE = 1L;
    static final long MAP_MASK = 0xffffL;
    static final long WRITE_ONE = 1L << 16;
    static final long WRITE_MASK = 0xffffL << 16;
    static final long INSIDE_MASK = MAP_MASK | WRITE_MASK;
    static final long DONE_ONE = 1L << 32;
    static final long DONE_MASK = -DONE_ONE;

    private static final VarHandle WORD;

    static {
        try {
            WORD = MethodHandles.lookup().findVarHandle(Slot.class, "word", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    abstract static class SlotPadBefore {
        long p00, p01, p02, p03, p04, p05, p06, p07;
    }

    abstract static class SlotWord extends SlotPadBefore {
        /**
         * Mappings held, writes open, writes finished (see the class comment). Written by the
         * owning thread with volatile getAndAdd (and by whichever thread unmaps a mapping it
         * made); read by pausing and synchronizing threads with volatile loads.
         */
        volatile long word;
    }

    abstract static class SlotPadAfter extends SlotWord {
        long p10, p11, p12, p13, p14, p15, p16, p17;
    }

    /** One writing thread's place in the gate, padded to a cache line of its own. */
    static final class Slot extends SlotPadAfter {
        /** The owning thread; a dead thread's slot is dropped at the next registration. */
        final Thread thread;

        Slot(Thread t) {
            this.thread = t;
        }
    }

    private final String name;

    /** Written by the pausing thread under this gate's lock (volatile); read by every writer after it enters. */
    private volatile int state = RUNNING;

    /** Copy-on-write; replaced under {@link #registration} by registering threads; read by pausers (volatile). */
    private volatile Slot[] slots = new Slot[0];

    private final ThreadLocal<Slot> local = ThreadLocal.withInitial(this::register);

    /** How many times a writer found the gate paused and parked; any writer increments (atomic add). */
    private final AtomicLong parks = new AtomicLong();

    /**
     * Guards registration only, never held while waiting: a thread registering its first write
     * must not queue behind a {@link #pause} that may be waiting for a thread that needs the
     * registering thread's context.
     */
    private final Object registration = new Object();

    WriteGate(String name) {
        this.name = name;
    }

    // ---------------------------------------------------------------------------------------
    // Writers

    /** The calling thread's slot, registering it on first use. Context: any thread. */
    Slot slot() {
        return local.get();
    }

    /**
     * Enters the gate for a write; if the thread was outside and the gate is paused, parks until
     * it runs again, releasing {@code ctx} (if the thread holds it) meanwhile. Context: the slot's
     * thread.
     */
    void enterWrite(Slot s, AioContext ctx) {
        enter(s, WRITE_ONE, ctx);
    }

    /** Leaves a write: drops it and counts it finished (release). Context: the slot's thread. */
    void exitWrite(Slot s) {
        long old = (long) WORD.getAndAdd(s, DONE_ONE - WRITE_ONE);
        assert (old & WRITE_MASK) != 0 : "write gate exit without enter";
    }

    /** Enters for a writable mapping held until {@link #unmapped}; parks like {@link #enterWrite}. */
    void mapped(Slot s, AioContext ctx) {
        if ((s.word & MAP_MASK) == MAP_MASK) {
            throw new IllegalStateException("thread '" + s.thread.getName() + "' holds " + MAP_MASK
                    + " writable DMA mappings; unmap some first");
        }
        enter(s, MAP_ONE, ctx);
    }

    /**
     * Ends a writable mapping whose unmap write (dirty marking) was entered with {@link
     * #enterWrite}: leaves both in one release. Context: any thread.
     */
    void unmapped(Slot s) {
        long old = (long) WORD.getAndAdd(s, DONE_ONE - WRITE_ONE - MAP_ONE);
        assert (old & MAP_MASK) != 0 && (old & WRITE_MASK) != 0 : "unmap without map";
    }

    private void enter(Slot s, long one, AioContext ctx) {
        long old = (long) WORD.getAndAdd(s, one); // volatile RMW: our entry, before the state load below
        if ((old & INSIDE_MASK) == 0 && state != RUNNING) {
            do {
                WORD.getAndAdd(s, -one); // back out: we have not touched guest memory
                awaitRunning(ctx);
                old = (long) WORD.getAndAdd(s, one);
            } while ((old & INSIDE_MASK) == 0 && state != RUNNING);
        }
    }

    private void awaitRunning(AioContext ctx) {
        parks.incrementAndGet();
        int depth = ctx != null && ctx.isHeldByCurrentThread() ? ctx.releaseAll() : 0;
        boolean interrupted = false;
        try {
            while (state != RUNNING) {
                LockSupport.park(this);
                if (Thread.interrupted()) {
                    interrupted = true; // keep waiting: a paused guest cannot write; re-assert below
                }
            }
        } finally {
            if (depth > 0) {
                ctx.reacquire(depth);
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * Adds the calling thread's slot. A pause that read {@code slots} before this store stored its
     * state before that read, so this thread's first entry (after this store) sees the pause.
     */
    private Slot register() {
        synchronized (registration) {
            List<Slot> kept = new ArrayList<>(slots.length + 1);
            for (Slot s : slots) {
                if (s.thread.isAlive() || (s.word & INSIDE_MASK) != 0) {
                    kept.add(s); // a dead thread's slot goes once nothing of it is inside
                }
            }
            Slot mine = new Slot(Thread.currentThread());
            kept.add(mine);
            slots = kept.toArray(new Slot[0]);
            return mine;
        }
    }

    // ---------------------------------------------------------------------------------------
    // The main loop

    /**
     * Stops every writer: new writes park, and this returns once the writes under way (and the
     * writable mappings outstanding) have finished. Until {@link #resume()}, guest RAM written
     * through {@link Dma} does not change. Context: the main loop; not from a thread that is
     * itself inside the gate (holding a writable mapping).
     *
     * @throws IllegalStateException if already paused, or if {@code timeout} passes first: the
     *     gate is then running again and the message names the threads still inside
     */
    public synchronized void pause(Duration timeout) {
        if (state == PAUSED) {
            throw new IllegalStateException("write gate of '" + name + "' is already paused");
        }
        checkNotInside("pause");
        state = PAUSED; // volatile store before the slot loads below; pairs with enter()
        long deadline = System.nanoTime() + timeout.toNanos();
        for (Slot s : slots) {
            Backoff b = new Backoff();
            while ((s.word & INSIDE_MASK) != 0) {
                if (System.nanoTime() - deadline > 0) {
                    List<String> inside = insideThreads();
                    resume();
                    throw new IllegalStateException("write gate of '" + name + "': writers still inside after "
                            + timeout + ": " + inside + " (a writable DmaMapping not unmapped?)");
                }
                b.idle();
            }
        }
    }

    /** {@link #pause(Duration)} without a time limit. Context: the main loop. */
    public void pause() {
        pause(Duration.ofNanos(Long.MAX_VALUE));
    }

    /** Lets writers go on after {@link #pause}; wakes the parked ones. Context: the main loop. */
    public synchronized void resume() {
        state = RUNNING;
        for (Slot s : slots) {
            LockSupport.unpark(s.thread);
        }
    }

    /** Whether {@link #pause} is in effect. Context: any thread. */
    public boolean isPaused() {
        return state == PAUSED;
    }

    /**
     * Waits until every write that was under way when this was called has left the gate (a
     * grace period); writes that start later, and writable mappings merely held, are not waited
     * for. What those writes stored is visible to the caller afterwards, and every later write
     * reads state the caller stored before calling. Context: any thread not inside the gate.
     */
    public void synchronize() {
        checkNotInside("synchronize");
        for (Slot s : slots) {
            long w0 = s.word;
            if ((w0 & WRITE_MASK) == 0) {
                continue; // any write it made before w0 has finished, and w0 acquired it
            }
            Backoff b = new Backoff();
            while (((s.word ^ w0) & DONE_MASK) == 0) {
                b.idle(); // the write open at w0 has not finished yet
            }
        }
    }

    /** How many times a writer parked on this paused gate. Context: any thread. */
    public long parkCount() {
        return parks.get();
    }

    private void checkNotInside(String what) {
        Slot mine = null;
        Thread me = Thread.currentThread();
        for (Slot s : slots) {
            if (s.thread == me) {
                mine = s;
            }
        }
        if (mine != null && (mine.word & INSIDE_MASK) != 0) {
            throw new IllegalStateException("write gate of '" + name + "': cannot " + what
                    + " from a thread inside the gate (it holds a writable DmaMapping)");
        }
    }

    private List<String> insideThreads() {
        List<String> inside = new ArrayList<>();
        for (Slot s : slots) {
            long w = s.word;
            if ((w & INSIDE_MASK) != 0) {
                long n = w & MAP_MASK;
                inside.add(s.thread.getName() + " (holding " + n + " writable mapping" + (n == 1 ? "" : "s")
                        + ((w & WRITE_MASK) != 0 ? ", writing" : "") + ")");
            }
        }
        return inside;
    }

    /** Spin briefly, then yield, then sleep in short steps: the machine may have two cores. */
    private static final class Backoff {
        private int n;

        void idle() {
            n++;
            if (n < 64) {
                Thread.onSpinWait();
            } else if (n < 128) {
                Thread.yield();
            } else {
                LockSupport.parkNanos(20_000);
            }
        }
    }

    @Override
    public String toString() {
        return "WriteGate[" + name + (isPaused() ? ", paused" : "") + ", " + slots.length + " writer threads]";
    }

    /** How many writable mappings {@code t} holds. For tests and diagnostics. */
    long mappingsOf(Thread t) {
        for (Slot s : slots) {
            if (s.thread == t) {
                return s.word & MAP_MASK;
            }
        }
        return 0;
    }
}
