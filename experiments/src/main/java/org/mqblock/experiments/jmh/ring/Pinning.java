package org.mqblock.experiments.jmh.ring;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import net.openhft.affinity.Affinity;
import net.openhft.affinity.AffinityLock;

/**
 * Pins a benchmark thread with Chronicle Affinity when a CPU can be reserved, and records what
 * really happened: the lock's answer ({@code isBound}, {@code cpuId}) and the affinity mask the OS
 * reports for the thread afterwards. Chronicle Affinity never hands out CPU 0, so on a 2-core
 * machine at most one of the two benchmark threads gets a CPU; the other runs where the scheduler
 * puts it.
 *
 * <p>Each outcome is printed ({@code # pin ...}, shown in the JMH log) and, when the system property
 * {@value #LOG_PROPERTY} names a file, appended to it as one line, for {@code mqb ring-bench}.
 */
final class Pinning {
    /** Names the file every fork appends its pinning lines to. */
    static final String LOG_PROPERTY = "mqb.ring.pinlog";

    private Pinning() {}

    /**
     * Tries to reserve a CPU for the calling thread. Returns the lock to release at the end of the
     * trial, or null when the thread was not pinned. Context: the thread to pin.
     */
    static AffinityLock pin(String trial, String role) {
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
            }
            outcome += " os-mask=" + Affinity.getAffinity();
        } catch (RuntimeException | LinkageError e) {
            outcome = "bound=false (pinning unavailable: " + e + ")";
        }
        record(trial + " " + role + ": " + outcome);
        return held;
    }

    /** Context: the thread that {@link #pin} pinned. */
    static void release(AffinityLock lock) {
        if (lock != null) {
            lock.release();
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
