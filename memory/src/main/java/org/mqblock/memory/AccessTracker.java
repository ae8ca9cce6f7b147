package org.mqblock.memory;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

/**
 * Which threads are inside an access of a shared {@link RamRegion} right now, so that closing the
 * region can wait for the accesses under way before the owner of the memory may unmap it (a
 * reader-side count per thread, as QEMU's {@code rcu_read_lock} keeps one, and the same shape as
 * the slots of {@link WriteGate}).
 *
 * <h2>Protocol</h2>
 * Each accessing thread owns a padded {@link Slot} holding how many accesses of this region it is
 * inside (nested ones count: a copy from the region to itself enters twice). Only the owner writes
 * its slot. An access enters with a volatile store of the incremented count and then reads the
 * region's {@code closed} flag (volatile); if the flag is set it leaves again and fails without
 * touching the memory; an entry nested in one already open skips the check, since the closer
 * waits for the thread anyway. It leaves with a release store. {@link #awaitNoneInside} is called after
 * the closer's volatile store of {@code closed}, and reads every slot with volatile loads until
 * each reads zero. Both sides store, then load, with full ordering (the Dekker pattern): either the
 * accessor sees the region closed, or the closer sees it inside and waits for its release store,
 * which then happens-before whatever the closer does next (telling the owner it may unmap).
 *
 * <p>Cost to an accessor: a thread-local lookup, one volatile store (a StoreLoad fence on
 * x86-64), one volatile load and one release store, all on lines of its own: no cache line is
 * shared between threads that access the region concurrently.
 */
final class AccessTracker {

    private static final VarHandle INSIDE;

    static {
        try {
            INSIDE = MethodHandles.lookup().findVarHandle(SlotCount.class, "inside", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    abstract static class SlotPadBefore {
        long p00, p01, p02, p03, p04, p05, p06, p07;
    }

    abstract static class SlotCount extends SlotPadBefore {
        /**
         * Accesses of the region the owning thread is inside. Written only by that thread
         * (volatile store on entry, release store on exit); read by the closer with volatile
         * loads and by the owner itself plainly.
         */
        int inside;
    }

    abstract static class SlotPadAfter extends SlotCount {
        long p10, p11, p12, p13, p14, p15, p16, p17;
    }

    /** One accessing thread's count, padded to a cache line of its own. */
    static final class Slot extends SlotPadAfter {
        /** The owning thread; a dead thread's slot is dropped at the next registration. */
        final Thread thread;

        Slot(Thread t) {
            this.thread = t;
        }
    }

    /** Copy-on-write; replaced under {@link #registration} by registering threads; read by the closer (volatile). */
    private volatile Slot[] slots = new Slot[0];

    private final ThreadLocal<Slot> local = ThreadLocal.withInitial(this::register);

    /** Guards registration only. */
    private final Object registration = new Object();

    /**
     * Counts the calling thread in. The caller must then read the region's {@code closed} flag
     * (volatile) and, if it is set, {@link #exit} without touching the memory. Context: any thread.
     */
    Slot enter() {
        Slot s = local.get();
        // Volatile store before the caller's load of `closed`; pairs with the closer's volatile
        // store of `closed` before the slot loads in awaitNoneInside.
        INSIDE.setVolatile(s, (int) INSIDE.get(s) + 1);
        return s;
    }

    /**
     * Whether the slot's thread was already inside an access when it entered this one. A nested
     * entry needs no check of {@code closed}: the closer is waiting for this thread anyway.
     * Context: the slot's thread.
     */
    static boolean nested(Slot s) {
        return (int) INSIDE.get(s) > 1;
    }

    /** Counts the calling thread out (release: its accesses come before a closer's load that sees it out). */
    void exit(Slot s) {
        INSIDE.setRelease(s, (int) INSIDE.get(s) - 1);
    }

    /**
     * Waits until no thread is inside an access. Called after the region's volatile store of
     * {@code closed}, so that an access entering later sees the flag and backs out; accesses are
     * short (at most a bulk copy) and never block, so this waits for memcpy-long stretches only.
     * Context: the thread closing the region, which must not itself be inside an access.
     */
    void awaitNoneInside() {
        for (Slot s : slots) {
            int n = 0;
            while ((int) INSIDE.getVolatile(s) != 0) {
                n++;
                if (n < 64) {
                    Thread.onSpinWait();
                } else if (n < 128) {
                    Thread.yield();
                } else {
                    LockSupport.parkNanos(20_000); // two cores: let the accessor run
                }
            }
        }
    }

    /** Whether the calling thread is inside an access, without registering it. */
    boolean isInsideCurrentThread() {
        Thread me = Thread.currentThread();
        for (Slot s : slots) {
            if (s.thread == me && (int) INSIDE.getVolatile(s) != 0) {
                return true;
            }
        }
        return false;
    }

    /** How many threads are inside an access now. For tests and diagnostics. Context: any thread. */
    int threadsInside() {
        int n = 0;
        for (Slot s : slots) {
            if ((int) INSIDE.getVolatile(s) != 0) {
                n++;
            }
        }
        return n;
    }

    /**
     * Adds the calling thread's slot. A closer that read {@code slots} before this store stored
     * {@code closed} before that read, so this thread's first entry (after this store) sees it.
     */
    private Slot register() {
        synchronized (registration) {
            List<Slot> kept = new ArrayList<>(slots.length + 1);
            for (Slot s : slots) {
                if (s.thread.isAlive() || (int) INSIDE.getVolatile(s) != 0) {
                    kept.add(s);
                }
            }
            Slot mine = new Slot(Thread.currentThread());
            kept.add(mine);
            slots = kept.toArray(new Slot[0]);
            return mine;
        }
    }
}
