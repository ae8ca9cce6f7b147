package org.mqblock.experiments.job;

/**
 * What one job's submitter thread drives: request slots numbered 0 to iodepth-1, added to a
 * virtqueue, published, and completed. The in-JVM guest model's vCPU ({@link GuestModelTarget})
 * and a vhost-user front-end queue ({@link VhostUserTarget}) both are one. Not threadsafe: the
 * job's thread only (Context: that thread, from {@link #bind()} to {@link #unbind()}).
 */
interface JobQueue {

    /** A completed request: its slot (free again) and virtio-blk status. */
    @FunctionalInterface
    interface Completion {
        void complete(int slot, int status);
    }

    /** Makes the calling thread the queue's submitter (the one that takes its interrupts). */
    void bind();

    void unbind();

    int inFlight();

    /** A free slot, or -1. */
    int takeSlot();

    /** Copies {@code len} bytes into the slot's data buffer (a write's data). */
    void writeData(int slot, byte[] src, int len);

    /** Copies {@code len} bytes out of the slot's data buffer (a completed read's data). */
    void readData(int slot, byte[] dst, int len);

    /** Adds a request on a taken slot; the device may not see it before {@link #publish()}. */
    void add(int slot, int type, long offset, int length);

    /** Whether {@link #add} publishes at once (the guest model), making {@link #publish()} a no-op. */
    boolean publishesOnAdd();

    /** Makes what was added visible to the device, kicking if it asks. */
    void publish();

    /** Waits for at least one completion (publishing first), handing each to {@code c}. */
    void await(Completion c);

    /** For a hung job's message: the queue's state. */
    String describe();
}
