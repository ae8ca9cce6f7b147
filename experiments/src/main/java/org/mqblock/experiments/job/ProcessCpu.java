package org.mqblock.experiments.job;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The process's user and system CPU time, from /proc/self/stat (zeros where there is none). */
final class ProcessCpu {

    /** USER_HZ: the unit of /proc's times on every Linux architecture Java runs on. */
    private static final double TICKS_PER_SECOND = 100.0;

    private ProcessCpu() {}

    /** {utime, stime} in ticks. */
    static long[] ticks() {
        try {
            String stat = Files.readString(Path.of("/proc/self/stat"));
            // Fields after the command name, which may hold spaces and is closed by the last ')'.
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return new long[] {Long.parseLong(f[11]), Long.parseLong(f[12])};
        } catch (IOException | RuntimeException e) {
            return new long[] {0, 0};
        }
    }

    /** Ticks over a window, as percent of one CPU (fio's usr_cpu / sys_cpu). */
    static double percent(long ticks, double seconds) {
        return seconds <= 0 ? 0 : ticks / TICKS_PER_SECOND / seconds * 100.0;
    }
}
