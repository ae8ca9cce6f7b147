package org.mqblock.experiments;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.HdrHistogram.Histogram;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.BottomHalf;
import org.mqblock.core.loop.IOThread;
import org.mqblock.core.loop.PollWindow;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code mqb demo}: a short tour of the event loop with real measurements on this machine:
 * cross-thread bottom-half throughput, and the wake-up round trip of an idle IOThread with
 * blocking waits against QEMU's adaptive polling, both measured in the same run.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Measure the event loop on this machine: bottom-half throughput and wake-up latency.")
final class DemoCommand implements Runnable {

    @Option(names = "--seconds", defaultValue = "2",
            description = "Measurement time per figure, in seconds (default ${DEFAULT-VALUE}).")
    double seconds;

    @Option(names = "--think-us", defaultValue = "10",
            description = "Idle time between wake-up requests, in microseconds (default ${DEFAULT-VALUE}).")
    long thinkUs;

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    private static final int BATCH = 256;

    @Override
    public void run() {
        if (seconds <= 0) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--seconds must be > 0, got " + seconds);
        }
        if (thinkUs < 0) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--think-us must be >= 0, got " + thinkUs);
        }
        long measureNs = (long) (seconds * 1e9);
        System.out.println("mqblock event-loop demo");
        System.out.println("machine: " + MachineInfo.current().describe());
        System.out.println();

        System.out.printf("1. Bottom-half throughput, producer thread -> IOThread, %d per batch, %.1f s each%n",
                BATCH, seconds);
        try (IOThread io = IOThread.start("demo-io", IOThread.ANY_CPU)) {
            System.out.println("   " + describe(io));
            double oneshot = throughput(io, true, measureNs);
            double reusable = throughput(io, false, measureNs);
            System.out.printf("   one-shot (allocates a node per call): %8.2f M schedule-to-run/s%n", oneshot / 1e6);
            System.out.printf("   reusable (preallocated, no alloc):    %8.2f M schedule-to-run/s%n", reusable / 1e6);
        }
        System.out.println();

        System.out.printf("2. Wake-up round trip to an idle IOThread, %d us think time between requests%n", thinkUs);
        System.out.printf("   %-22s %9s %9s %9s %12s%n", "poll-max-ns", "p50 us", "p99 us", "p99.9 us", "wakeups/op");
        Histogram blocking = null;
        Histogram adaptive = null;
        for (long pollMaxNs : new long[] {0, PollWindow.DEFAULT_MAX_NS}) {
            try (IOThread io = IOThread.start("demo-io", IOThread.ANY_CPU, pollMaxNs)) {
                long[] wakeups = new long[1];
                Histogram h = roundTrips(io, measureNs, thinkUs * 1000, wakeups);
                System.out.printf("   %-22s %9.2f %9.2f %9.2f %12.3f%n",
                        pollMaxNs + (pollMaxNs == 0 ? " (blocking)" : " (adaptive)"),
                        h.getValueAtPercentile(50) / 1e3, h.getValueAtPercentile(99) / 1e3,
                        h.getValueAtPercentile(99.9) / 1e3, (double) wakeups[0] / h.getTotalCount());
                if (pollMaxNs == 0) {
                    blocking = h;
                } else {
                    adaptive = h;
                }
            }
        }
        System.out.printf("   blocking / adaptive p50: %.2fx (same run, same machine)%n",
                (double) blocking.getValueAtPercentile(50) / adaptive.getValueAtPercentile(50));
        if (Runtime.getRuntime().availableProcessors() < 2) {
            System.out.println("   note: one CPU: the IOThread and this thread share it, polling cannot help here");
        }
    }

    private static String describe(IOThread io) {
        IOThread.Info i = io.info();
        return "IOThread " + i.id() + ": OS thread " + i.threadId() + ", CPU "
                + (i.bound() ? i.cpuBound() + " (pinned)" : "not pinned: " + i.pinning());
    }

    /** Schedule-to-run operations per second, batches of {@link #BATCH}, for {@code ns}. */
    private static double throughput(IOThread io, boolean oneshot, long ns) {
        AioContext ctx = io.context();
        AtomicLong ran = new AtomicLong();
        Runnable count = ran::incrementAndGet;
        BottomHalf[] bhs = new BottomHalf[BATCH];
        for (int i = 0; i < BATCH; i++) {
            bhs[i] = ctx.newBottomHalf("demo-" + i, count);
        }
        try {
            long target = 0;
            long warmupEnd = System.nanoTime() + ns / 4;
            long start = 0;
            long startCount = 0;
            while (true) {
                long now = System.nanoTime();
                if (start == 0 && now >= warmupEnd) {
                    start = now;
                    startCount = target;
                } else if (start != 0 && now - start >= ns) {
                    return (target - startCount) * 1e9 / (now - start);
                }
                target += BATCH;
                for (int i = 0; i < BATCH; i++) {
                    if (oneshot) {
                        ctx.schedule(count);
                    } else {
                        bhs[i].schedule();
                    }
                }
                while (ran.get() < target) {
                    Thread.onSpinWait();
                }
            }
        } finally {
            for (BottomHalf bh : bhs) {
                bh.delete();
            }
        }
    }

    /** Round-trip latencies in ns; {@code wakeups[0]} gets the wakeup calls made meanwhile. */
    private static Histogram roundTrips(IOThread io, long ns, long thinkNs, long[] wakeups) {
        AioContext ctx = io.context();
        AtomicLong pongs = new AtomicLong();
        BottomHalf ping = ctx.newBottomHalf("ping", pongs::incrementAndGet);
        Histogram h = new Histogram(TimeUnit.SECONDS.toNanos(1), 3);
        try {
            long warmupEnd = System.nanoTime() + ns / 4;
            long end = warmupEnd + ns;
            long wakeupsAtStart = -1;
            long n = 0;
            while (true) {
                long t0 = System.nanoTime();
                if (t0 >= end) {
                    break;
                }
                if (wakeupsAtStart < 0 && t0 >= warmupEnd) {
                    wakeupsAtStart = ctx.wakeupCount();
                    h.reset();
                }
                ping.schedule();
                n++;
                while (pongs.get() < n) {
                    Thread.onSpinWait();
                }
                long t1 = System.nanoTime();
                h.recordValue(Math.min(t1 - t0, h.getHighestTrackableValue()));
                while (System.nanoTime() - t1 < thinkNs) {
                    Thread.onSpinWait();
                }
            }
            wakeups[0] = ctx.wakeupCount() - wakeupsAtStart;
            return h;
        } finally {
            ping.delete();
        }
    }
}
