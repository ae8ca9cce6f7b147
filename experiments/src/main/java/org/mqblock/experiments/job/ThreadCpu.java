package org.mqblock.experiments.job;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.List;

/**
 * The CPU time of the threads that did a job's work (its submitter threads, as fio's usr_cpu and
 * sys_cpu are its job threads' getrusage(RUSAGE_THREAD)), not the whole process's.
 */
final class ThreadCpu {

    private static final ThreadMXBean MX = ManagementFactory.getThreadMXBean();

    private ThreadCpu() {}

    /** The calling thread's {user ns, total ns}; {0, 0} where the JVM cannot tell. */
    static long[] current() {
        if (!MX.isCurrentThreadCpuTimeSupported()) {
            return new long[] {0, 0};
        }
        return new long[] {Math.max(0, MX.getCurrentThreadUserTime()), Math.max(0, MX.getCurrentThreadCpuTime())};
    }

    /** Per thread {user ns, total ns}; {0, 0} where the JVM cannot tell (thread gone, no support). */
    static long[][] of(List<Thread> threads) {
        long[][] t = new long[threads.size()][2];
        boolean supported = MX.isThreadCpuTimeSupported();
        for (int i = 0; i < t.length; i++) {
            long id = threads.get(i).threadId();
            long user = supported ? MX.getThreadUserTime(id) : -1;
            long cpu = supported ? MX.getThreadCpuTime(id) : -1;
            t[i][0] = Math.max(0, user);
            t[i][1] = Math.max(0, cpu);
        }
        return t;
    }

    /**
     * {usr, sys} over the window as fio reports them: the jobs' CPU time summed over their summed
     * run time, in percent (so 100 means each job thread was busy all the time, whatever numjobs).
     */
    static double[] percent(long[][] before, long[][] after, long windowNs) {
        long user = 0;
        long total = 0;
        for (int i = 0; i < before.length; i++) {
            user += after[i][0] - before[i][0];
            total += after[i][1] - before[i][1];
        }
        double run = (double) windowNs * before.length;
        if (run <= 0) {
            return new double[] {0, 0};
        }
        return new double[] {100.0 * user / run, 100.0 * Math.max(0, total - user) / run};
    }
}
