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
        return ticks(Path.of("/proc", Long.toString(pid), "stat"));
    }

    /** Every live thread of {@code pid}, by tid (empty once it has gone). */
    static Map<Long, ThreadTicks> threads(long pid) {
        Map<Long, ThreadTicks> m = new LinkedHashMap<>();
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path t : tasks) {
                long tid = Long.parseLong(t.getFileName().toString());
                long ticks = ticks(t.resolve("stat"));
                String name = comm(t.resolve("stat"));
                if (ticks >= 0 && name != null) {
                    m.put(tid, new ThreadTicks(tid, name, ticks));
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

    private static long ticks(Path stat) {
        try {
            String s = Files.readString(stat);
            // Fields after the command name, which may hold spaces and is closed by the last ')'.
            String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
            return Long.parseLong(f[11]) + Long.parseLong(f[12]);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    private static String comm(Path stat) {
        try {
            String s = Files.readString(stat);
            return s.substring(s.indexOf('(') + 1, s.lastIndexOf(')'));
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
