package org.mqblock.experiments;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.nio.channels.Pipe;
import org.HdrHistogram.Histogram;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.BottomHalf;
import org.mqblock.core.loop.FdMonitor;
import org.mqblock.core.loop.FdWatch;
import org.mqblock.core.loop.IOThread;
import org.mqblock.core.loop.PollWindow;
import org.mqblock.nativeio.EpollMonitor;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code mqb demo}: a short tour of the event loop with real measurements on this machine:
 * cross-thread bottom-half throughput; the wake-up round trip of an idle IOThread with blocking
 * waits against QEMU's adaptive polling, for each way the loop can sleep (park, Selector.select,
 * epoll on an eventfd); and what an idle IOThread costs in CPU. All in the same run.
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

        System.out.printf("2. Wake-up round trip to an idle IOThread, %d us think time between requests,%n"
                + "   by how the loop sleeps; %d rounds, configurations interleaved, percentiles over all rounds%n",
                thinkUs, ROUNDS);
        System.out.printf("   %-30s %-20s %9s %9s %9s %12s %17s%n", "sleeps in", "poll-max-ns", "p50 us", "p99 us",
                "p99.9 us", "wakeups/op", "p50 min-max us");
        long[] pollMaxNs = {0, PollWindow.DEFAULT_MAX_NS};
        Histogram[][] pooled = new Histogram[SLEEPS.size()][pollMaxNs.length];
        double[][][] roundP50 = new double[SLEEPS.size()][pollMaxNs.length][ROUNDS];
        long[][] wakeups = new long[SLEEPS.size()][pollMaxNs.length];
        for (int round = 0; round < ROUNDS; round++) {
            for (int p = 0; p < pollMaxNs.length; p++) {
                for (int v = 0; v < SLEEPS.size(); v++) {
                    Sleep sleep = SLEEPS.get(v);
                    try (IOThread io = IOThread.start("demo-io", IOThread.ANY_CPU, pollMaxNs[p], sleep.monitor());
                         IdleChannel idle = sleep.watchChannel() ? IdleChannel.watch(io) : null) {
                        long[] w = new long[1];
                        Histogram h = roundTrips(io, measureNs / ROUNDS, thinkUs * 1000, w);
                        roundP50[v][p][round] = h.getValueAtPercentile(50) / 1e3;
                        wakeups[v][p] += w[0];
                        if (pooled[v][p] == null) {
                            pooled[v][p] = h;
                        } else {
                            pooled[v][p].add(h);
                        }
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }
            }
        }
        for (int p = 0; p < pollMaxNs.length; p++) {
            for (int v = 0; v < SLEEPS.size(); v++) {
                Histogram h = pooled[v][p];
                double[] r = roundP50[v][p].clone();
                java.util.Arrays.sort(r);
                System.out.printf("   %-30s %-20s %9.2f %9.2f %9.2f %12.3f %8.2f-%-8.2f%n", SLEEPS.get(v).name(),
                        pollMaxNs[p] + (pollMaxNs[p] == 0 ? " (blocking)" : " (adaptive)"),
                        h.getValueAtPercentile(50) / 1e3, h.getValueAtPercentile(99) / 1e3,
                        h.getValueAtPercentile(99.9) / 1e3, (double) wakeups[v][p] / h.getTotalCount(), r[0], r[ROUNDS - 1]);
            }
        }
        for (int v = 0; v < SLEEPS.size(); v++) {
            System.out.printf("   blocking / adaptive p50, %s: %.2fx%n", SLEEPS.get(v).name(),
                    (double) pooled[v][0].getValueAtPercentile(50) / pooled[v][1].getValueAtPercentile(50));
        }
        System.out.printf("   blocking p50, epoll / park: %.2fx, epoll / Selector.select: %.2fx (same run, same machine)%n",
                (double) pooled[2][0].getValueAtPercentile(50) / pooled[0][0].getValueAtPercentile(50),
                (double) pooled[2][0].getValueAtPercentile(50) / pooled[1][0].getValueAtPercentile(50));
        if (Runtime.getRuntime().availableProcessors() < 2) {
            System.out.println("   note: one CPU: the IOThread and this thread share it, polling cannot help here");
        }
        System.out.println();

        System.out.printf("3. An idle IOThread (poll-max-ns %d) for %.1f s: its CPU time and how often it slept%n",
                PollWindow.DEFAULT_MAX_NS, seconds);
        for (Sleep sleep : SLEEPS) {
            try (IOThread io = IOThread.start("demo-idle", IOThread.UNPINNED, PollWindow.DEFAULT_MAX_NS, sleep.monitor());
                 IdleChannel idle = sleep.watchChannel() ? IdleChannel.watch(io) : null) {
                Thread.sleep(100); // let it settle into its sleep
                long cpu0 = io.cpuTimeNs();
                long sleeps0 = io.context().sleepCount();
                Thread.sleep((long) (seconds * 1000));
                long cpu = io.cpuTimeNs() - cpu0;
                System.out.printf("   %-30s %9.3f ms CPU (%.4f%% of a CPU), %d sleeps%n", sleep.name(), cpu / 1e6,
                        100.0 * cpu / (seconds * 1e9), io.context().sleepCount() - sleeps0);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private static final int ROUNDS = 3;

    /** How the IOThread sleeps: the Selector monitor parks with no channel and selects with one. */
    private record Sleep(String name, FdMonitor.Factory monitor, boolean watchChannel) {}

    private static final java.util.List<Sleep> SLEEPS = java.util.List.of(
            new Sleep("park (Selector monitor, idle)", FdMonitor.SELECTOR, false),
            new Sleep("Selector.select (1 channel)", FdMonitor.SELECTOR, true),
            new Sleep("epoll_pwait2 + eventfd", EpollMonitor::new, false));

    /** An idle pipe watched for reads, so that the Selector monitor sleeps in select(). */
    private record IdleChannel(AioContext ctx, FdWatch watch, Pipe pipe) implements AutoCloseable {
        static IdleChannel watch(IOThread io) throws java.io.IOException {
            Pipe pipe = Pipe.open();
            AioContext ctx = io.context();
            ctx.acquire();
            try {
                return new IdleChannel(ctx, ctx.watchChannel(pipe.source(), false, () -> { }, null), pipe);
            } finally {
                ctx.release();
            }
        }

        @Override
        public void close() throws java.io.IOException {
            ctx.acquire();
            try {
                watch.close();
            } finally {
                ctx.release();
            }
            pipe.sink().close();
            pipe.source().close();
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
