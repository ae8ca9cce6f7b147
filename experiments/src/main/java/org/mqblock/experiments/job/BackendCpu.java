package org.mqblock.experiments.job;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The CPU time a backend process spent over a job's measured window, from /proc/PID/stat
 * (utime + stime) at the window's start and end, and each of its threads' share from
 * /proc/PID/task/TID/stat with the CPU it last ran on (field 39, {@code processor}): which thread
 * was busy, and whether one was saturated (near 100% of a CPU).
 *
 * @param pid the backend's process id
 * @param usrTicks user time over the window, in USER_HZ ticks (1/100 s)
 * @param sysTicks system time over the window
 * @param threads the threads that ran in the window, busiest first
 */
public record BackendCpu(long pid, long usrTicks, long sysTicks, List<ThreadCpu> threads) {

    /**
     * One backend thread over the window.
     *
     * @param ticks utime + stime over the window
     * @param lastCpu the CPU it ran on last, at the window's end
     */
    public record ThreadCpu(long tid, String name, long ticks, int lastCpu) {}

    /** The process and its threads at one instant: {tid -> {ticks, lastCpu}}, names apart. */
    record Snapshot(long usr, long sys, Map<Long, long[]> threads, Map<Long, String> names) {}

    static Snapshot snapshot(long pid) {
        Map<Long, long[]> threads = new HashMap<>();
        Map<Long, String> names = new HashMap<>();
        long[] proc = fields(Path.of("/proc", String.valueOf(pid), "stat"), names, pid);
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc", String.valueOf(pid), "task"))) {
            for (Path t : tasks) {
                long tid = Long.parseLong(t.getFileName().toString());
                long[] f = fields(t.resolve("stat"), names, tid);
                if (f != null) {
                    threads.put(tid, new long[] {f[0] + f[1], f[2]});
                }
            }
        } catch (IOException | RuntimeException e) {
            // the process ended: what was read stays
        }
        return new Snapshot(proc == null ? 0 : proc[0], proc == null ? 0 : proc[1], threads, names);
    }

    /** utime, stime, processor of a stat file (fields 14, 15, 39), the name into {@code names}; null if unreadable. */
    private static long[] fields(Path stat, Map<Long, String> names, long id) {
        try {
            String s = Files.readString(stat);
            int open = s.indexOf('(');
            int close = s.lastIndexOf(')');
            names.put(id, s.substring(open + 1, close));
            String[] f = s.substring(close + 2).split(" ");
            // f[0] is field 3 (state): field n is f[n - 3].
            return new long[] {Long.parseLong(f[11]), Long.parseLong(f[12]), Long.parseLong(f[36])};
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** The threads that ran between the snapshots. */
    static BackendCpu between(long pid, Snapshot a, Snapshot b) {
        return between(pid, a, b, false);
    }

    /**
     * {@link #between(long, Snapshot, Snapshot)}; with {@code idleToo}, also the threads alive at
     * both ends that did not run a whole tick (1/100 s), at 0: a thread that is listed was there.
     */
    static BackendCpu between(long pid, Snapshot a, Snapshot b, boolean idleToo) {
        List<ThreadCpu> threads = new ArrayList<>();
        for (Map.Entry<Long, long[]> e : b.threads().entrySet()) {
            long[] before = a.threads().get(e.getKey());
            long ticks = e.getValue()[0] - (before == null ? 0 : before[0]);
            if (ticks > 0 || idleToo && before != null) {
                threads.add(new ThreadCpu(e.getKey(), b.names().getOrDefault(e.getKey(), "?"), ticks, (int) e.getValue()[1]));
            }
        }
        threads.sort((x, y) -> Long.compare(y.ticks(), x.ticks()));
        return new BackendCpu(pid, b.usr() - a.usr(), b.sys() - a.sys(), List.copyOf(threads));
    }

    /** Microseconds of backend CPU per I/O: (utime + stime) over the window / I/Os in it. */
    public double microsPerIo(long ios) {
        return ios == 0 ? Double.NaN : (usrTicks + sysTicks) * 10_000.0 / ios;
    }

    /** Percent of one CPU over a window of {@code seconds}. */
    public double percent(long ticks, double seconds) {
        return ProcessCpu.percent(ticks, seconds);
    }
}
