package org.mqblock.experiments.job;

import java.util.List;
import org.mqblock.virtio.VirtioBlkRig;

/**
 * Where a job's I/O goes: one {@link JobQueue} per job, and the counters the window snapshots.
 * Context: the job's main loop, except {@link #queue}'s queues (their submitter threads) and the
 * counters (any thread).
 */
interface JobTarget extends AutoCloseable {

    JobQueue queue(int job);

    /** Kicks to the device so far, all queues. */
    long kicks();

    /** Interrupts the device raised (or the front-end took) so far, all queues. */
    long interrupts();

    /** The device's own threads (IOThreads), where it has any in this process. */
    List<JobResult.ThreadPlacement> deviceThreads();

    /** The process serving the device when it is another one (its CPU time is measured), else 0. */
    long backendPid();

    /** Whether the device needs a reset (in-JVM device only). */
    boolean broken();

    /** The in-JVM rig, for {@link JobRunner.DuringWindow}; null when the device is elsewhere. */
    VirtioBlkRig rig();

    /** The role and name prefix of the job threads ("vcpu" for the guest model). */
    String threadRole();

    @Override
    void close();
}
