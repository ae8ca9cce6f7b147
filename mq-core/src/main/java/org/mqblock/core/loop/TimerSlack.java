package org.mqblock.core.loop;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The calling thread's timer slack (prctl PR_SET_TIMERSLACK): how late the kernel may fire its
 * timed sleeps so that wakeups coalesce, 50 us by default. An event loop that sleeps until a
 * timer deadline (a latency backend's completion, a poll window) wakes up to that much late,
 * which made a fixed 20 us service time measure 87-92 us at iodepth 1; QEMU sets the slack to 1 ns
 * for this reason. Set through {@code /proc/<tid>/timerslack_ns}, which a thread may write for
 * itself without privileges (Linux 4.6+), so mq-core needs no native code. Context: the thread
 * whose slack it is.
 */
final class TimerSlack {

    private TimerSlack() {}

    /**
     * Sets the slack of the calling thread, whose kernel thread id is {@code tid}, and returns
     * what the kernel then reports, or -1 where the file is absent or refuses (not Linux, an old
     * kernel, /proc not mounted, an unknown tid).
     */
    static long setOwn(long tid, long ns) {
        if (tid <= 0) {
            return -1;
        }
        Path file = Path.of("/proc", Long.toString(tid), "timerslack_ns");
        try {
            Files.writeString(file, Long.toString(ns), StandardCharsets.US_ASCII);
            return Long.parseLong(Files.readString(file, StandardCharsets.US_ASCII).trim());
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }
}
