package org.mqblock.benchmarks.ring;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.BitSet;
import java.util.function.Consumer;
import net.openhft.affinity.Affinity;
import net.openhft.affinity.AffinityLock;

/**
 * Pins a benchmark thread with Chronicle Affinity when a CPU can be reserved, and records what
 * really happened: the lock's answer ({@code isBound}, {@code cpuId}) and the affinity mask the OS
 * reports for the thread afterwards. Chronicle Affinity never hands out CPU 0, so on a 2-core
 * machine at most one of the two benchmark threads gets a CPU. The other is then kept off its
 * partner's CPU (its affinity mask loses that CPU, nothing is reserved): left free, the scheduler
 * sometimes parks it on the partner's CPU when other processes keep the rest busy, and the two
 * spinning threads then take turns by time slice, moving about 1000 elements per 10 ms, which
 * measures the scheduler rather than the queue.
 *
 * <p>Each outcome is printed ({@code # pin ...}, shown in the JMH log) and, when the system property
 * {@value #LOG_PROPERTY} names a file, appended to it as one line, for {@code mqb ring-bench}.
 */
final class Pinning {
    /** Names the file every fork appends its pinning lines to. */
    static final String LOG_PROPERTY = "mqb.ring.pinlog";

    private Pinning() {}

    /** Whether {@code lock} reserved a CPU; the CPU's number, or -1. */
    static int cpuOf(AffinityLock lock) {
        return lock != null && lock.isBound() ? lock.cpuId() : -1;
    }

    /**
     * Tries to reserve a CPU for the calling thread; if none is left and {@code partnerCpu >= 0},
     * removes the partner's CPU from the thread's affinity mask instead. Returns the lock to
     * release at the end of the trial, or null when no CPU was reserved. Context: the thread to pin.
     */
    static AffinityLock pin(String trial, String role, int partnerCpu) {
        return pin(trial, role, partnerCpu, line -> { });
    }

    /** {@link #pin(String, String, int)}, also passing the recorded line to {@code recorded}. */
    static AffinityLock pin(String trial, String role, int partnerCpu, Consumer<String> recorded) {
        AffinityLock held = null;
        String outcome;
        try {
            AffinityLock lock = AffinityLock.acquireLock();
            if (lock.isBound()) {
                held = lock;
                outcome = "bound=true cpu=" + lock.cpuId();
            } else {
                lock.release();
                outcome = "bound=false (Chronicle Affinity had no CPU left to reserve)";
                if (partnerCpu >= 0) {
                    BitSet mask = Affinity.getAffinity();
                    mask.clear(partnerCpu);
                    if (!mask.isEmpty()) {
                        Affinity.setAffinity(mask);
                        outcome += " kept off cpu " + partnerCpu;
                    }
                }
            }
            outcome += " os-mask=" + Affinity.getAffinity();
        } catch (RuntimeException | LinkageError e) {
            outcome = "bound=false (pinning unavailable: " + e + ")";
        }
        String line = trial + " " + role + ": " + outcome;
        record(line);
        recorded.accept(line);
        return held;
    }

    /** Releases the reservation, or restores the mask {@link #pin} narrowed. Context: the thread it pinned. */
    static void release(AffinityLock lock) {
        if (lock != null) {
            lock.release();
            return;
        }
        try {
            Affinity.setAffinity(AffinityLock.BASE_AFFINITY);
        } catch (RuntimeException | LinkageError e) {
            // pinning was unavailable in the first place
        }
    }

    private static synchronized void record(String line) {
        System.out.println("# pin " + line);
        String file = System.getProperty(LOG_PROPERTY);
        if (file == null || file.isEmpty()) {
            return;
        }
        try {
            Files.writeString(Path.of(file), line + System.lineSeparator(), StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            System.out.println("# pin log " + file + " not written: " + e);
        }
    }
}
