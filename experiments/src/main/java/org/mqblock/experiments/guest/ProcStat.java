package org.mqblock.experiments.guest;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * CPU time of another process, or of its threads, from /proc (proc(5)): utime + stime, fields 14
 * and 15 of {@code /proc/PID/stat} and {@code /proc/PID/task/TID/stat}, in clock ticks. A
 * process's figure includes its threads that have exited; a thread's ends with it.
 *
 * <p>Context: any thread.
 */
final class ProcStat {

    /** USER_HZ: the unit of /proc's times on every Linux architecture Java runs on. */
    static final double TICKS_PER_SECOND = 100.0;

    /** One thread's name ({@code comm}) and its CPU ticks at the time of reading. */
    record ThreadTicks(long tid, String name, long ticks) {}

    private ProcStat() {}

    /** utime + stime of process {@code pid}, in ticks; -1 once it has gone. */
    static long processTicks(long pid) {
        return ticks(read(Path.of("/proc", Long.toString(pid), "stat")));
    }

    /** Every live thread of {@code pid}, by tid (empty once it has gone). */
    static Map<Long, ThreadTicks> threads(long pid) {
        Map<Long, ThreadTicks> m = new LinkedHashMap<>();
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path t : tasks) {
                long tid = Long.parseLong(t.getFileName().toString());
                String stat = read(t.resolve("stat"));
                if (stat != null) {
                    m.put(tid, new ThreadTicks(tid, stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
                            ticks(stat)));
                }
            }
        } catch (IOException | RuntimeException e) {
            // the process (or a thread) went away while we read it: what we have is what there is
        }
        return m;
    }

    static double seconds(long ticks) {
        return ticks / TICKS_PER_SECOND;
    }

    /** utime + stime from the text of a stat file; -1 when it cannot be read. */
    static long ticks(String stat) {
        if (stat == null) {
            return -1;
        }
        try {
            // Fields after the command name, which may hold spaces and is closed by the last ')'.
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return Long.parseLong(f[11]) + Long.parseLong(f[12]);
        } catch (RuntimeException e) {
            return -1;
        }
    }

    private static String read(Path stat) {
        try {
            return Files.readString(stat);
        } catch (IOException | RuntimeException e) {
            return null; // gone
        }
    }
}
