package org.mqblock.virtio;

import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.mqblock.core.loop.FdSignal;

/**
 * A used-buffer notification to the guest: the irqfd a queue's completions write (QEMU's
 * {@code virtio_irqfd_notify}, an eventfd write that KVM turns into an interrupt). Here the
 * "guest" is the driver model's vCPU threads that registered as listeners: {@link #raise()} bumps
 * a sequence number and unparks them; a vCPU parks until the count moves past what it saw.
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
     * Delivers the interrupt: every listener waiting in {@link #awaitAfter} returns, and the
     * irqfd, if any, is written once (a system call, after the used ring's stores).
     */
    public void raise() {
        sequence.incrementAndGet(); // full fence: the used ring before the listeners' loads of the sequence
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

    /** Registers the calling vCPU thread to be woken by raises. */
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
