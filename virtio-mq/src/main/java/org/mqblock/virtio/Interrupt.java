package org.mqblock.virtio;

import java.util.ArrayDeque;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.mqblock.core.loop.FdSignal;

/**
 * A used-buffer notification to the guest: the irqfd a queue's completions write (QEMU's
 * {@code virtio_irqfd_notify}, an eventfd write that KVM turns into an interrupt). Here the
 * "guest" is the driver model's vCPU threads: {@link #raise()} bumps a sequence number and unparks
 * the one vCPU the interrupt targets, as an MSI-X vector with its affinity set reaches one CPU
 * (Linux's virtio_blk spreads one vector per virtqueue over the CPUs). Other vCPUs sharing the
 * virtqueue stand by ({@link #target}): they are not woken, and one of them takes over the target
 * when it leaves ({@link #untarget}), as Linux moves an IRQ off a CPU going offline. Listeners
 * ({@link #listen}, the configuration interrupt) are all woken: the model's shortcut for the
 * configuration-change handler that fails every queue's requests.
 *
 * <p>Each raise is one eventfd write in QEMU: the count is what the DeferCall experiment compares.
 * Made over an {@link FdSignal} (an eventfd, the call fd a vhost-user front-end hands over), each
 * raise also writes it, so a guest in another process can wait on it.
 * Context: {@link #raise()} from the queue's thread; listeners and waits from vCPU threads.
 * The irqfd can be replaced while the queue runs (vhost-user's SET_VRING_CALL), see {@link #setIrqfd}.
 */
public final class Interrupt {

    /** Raises so far; the device's thread writes (atomic), vCPUs read (volatile). */
    private final AtomicLong sequence = new AtomicLong();
    private final CopyOnWriteArrayList<Thread> listeners = new CopyOnWriteArrayList<>();
    /** vCPUs that stand by to take over the target, in the order they came; under {@code this}. */
    private final ArrayDeque<Thread> standby = new ArrayDeque<>();
    /**
     * The vCPU a raise wakes, or null. Written under {@code this} by {@link #target} and
     * {@link #untarget} (vCPU threads); raise reads it once (volatile).
     */
    private volatile Thread target;
    private final String name;
    /**
     * The eventfd each raise writes, or null. Replaced by {@link #setIrqfd} in a thread holding
     * the raising queue's context, which excludes a raise in progress; raise reads it once per
     * call (volatile, so {@link #irqfd()} from other threads sees the latest too).
     */
    private volatile FdSignal irqfd;

    public Interrupt(String name) {
        this(name, null);
    }

    /** An interrupt that also signals {@code irqfd} (null: in-process listeners only). */
    public Interrupt(String name, FdSignal irqfd) {
        this.name = name;
        this.irqfd = irqfd;
    }

    /**
     * Delivers the interrupt: the target vCPU and every listener are unparked, and the irqfd, if
     * any, is written once (a system call, after the used ring's stores).
     */
    public void raise() {
        sequence.incrementAndGet(); // full fence: the used ring before the vCPUs' loads of the sequence
        Thread t0 = target;
        if (t0 != null) {
            LockSupport.unpark(t0);
        }
        for (Thread t : listeners) {
            LockSupport.unpark(t);
        }
        FdSignal fd = irqfd;
        if (fd != null) {
            fd.signal();
        }
    }

    /**
     * Makes later raises write {@code fd} (null: none). Alone this says nothing about a raise
     * already running: the caller excludes those (VirtioBlk.setCall holds the queue's context,
     * in which every raise of a device queue runs). Context: a thread holding the raising
     * queue's context.
     */
    void setIrqfd(FdSignal fd) {
        irqfd = fd;
    }

    /** The eventfd this interrupt writes, or null. */
    public FdSignal irqfd() {
        return irqfd;
    }

    /** How many times the interrupt was raised. Context: any thread. */
    public long count() {
        return sequence.get();
    }

    /**
     * Makes the calling vCPU thread this interrupt's target if {@code primary} or if there is none
     * yet; else it stands by. Context: a vCPU thread.
     */
    public synchronized void target(boolean primary) {
        Thread me = Thread.currentThread();
        Thread old = target;
        if (old == me) {
            return;
        }
        standby.remove(me);
        if (old == null || primary) {
            if (old != null) {
                standby.addFirst(old);
            }
            target = me;
        } else {
            standby.addLast(me);
        }
    }

    /**
     * The calling vCPU stops taking this interrupt; if it was the target, the first standby takes
     * over and is woken, so that completions still in flight on a shared virtqueue are reaped.
     * Context: a vCPU thread.
     */
    public synchronized void untarget() {
        Thread me = Thread.currentThread();
        if (target != me) {
            standby.remove(me);
            return;
        }
        Thread next = standby.pollFirst();
        target = next;
        if (next != null) {
            LockSupport.unpark(next);
        }
    }

    /** The vCPU a raise wakes now, or null. Context: any thread. */
    public Thread targetThread() {
        return target;
    }

    /** Registers the calling thread to be woken by every raise (the configuration interrupt). */
    public void listen() {
        listeners.addIfAbsent(Thread.currentThread());
    }

    public void unlisten() {
        listeners.remove(Thread.currentThread());
    }

    @Override
    public String toString() {
        return "Interrupt[" + name + ", " + sequence.get() + " raised]";
    }
}
