package org.mqblock.benchmarks.ring;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import net.openhft.affinity.AffinityLock;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Round-trip latency over two channels: the JMH thread offers one element on {@code ping} and
 * spins until it can poll one from {@code pong}; an echo thread spins on {@code ping} and offers
 * each element it takes back on {@code pong}. One op is one round trip, so each element crosses
 * between the two cores twice per op and only one is ever in flight.
 *
 * <p>The echo thread tries to pin first, then the JMH thread, which is kept off the echo thread's
 * CPU when it gets none of its own; each trial records what happened.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 4, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 2, jvmArgsAppend = {"-Xms512m", "-Xmx512m"})
public class RingRoundTripBench {
    @Param({Channel.SPSC_RING, Channel.SPSC_LONG_RING, Channel.JCTOOLS, Channel.AGRONA_QUEUE,
            Channel.AGRONA_RING_BUFFER, Channel.DISRUPTOR, Channel.ABQ})
    public String impl;

    /** Both written in setup before the echo thread starts (Thread.start orders them); then read plain. */
    private Channel ping;
    private Channel pong;

    /** Written by the JMH thread (teardown); read volatile by the echo loop on every turn. */
    private volatile boolean running;

    private Thread echo;
    private AffinityLock pingerLock;

    /** The echo thread's CPU or -1. Written by the echo thread before {@code echoTried.countDown()}; read plain after await. */
    private int echoCpu = -1;

    @Setup(Level.Trial)
    public void start() throws InterruptedException {
        ping = Channel.create(impl, RingThroughputBench.CAPACITY);
        pong = Channel.create(impl, RingThroughputBench.CAPACITY);
        running = true;
        String trial = "RingRoundTripBench impl=" + impl + " burst=1";
        CountDownLatch echoTried = new CountDownLatch(1);
        echo = new Thread(() -> echoLoop(trial, echoTried), "ring-echo");
        echo.setDaemon(true);
        echo.start();
        if (!echoTried.await(30, TimeUnit.SECONDS)) {
            System.out.println("# pin: echo thread did not try within 30 s; pinger tries now");
        }
        pingerLock = Pinning.pin(trial, "pinger", echoCpu);
    }

    private void echoLoop(String trial, CountDownLatch tried) {
        AffinityLock lock = null;
        try {
            lock = Pinning.pin(trial, "echo", -1);
            echoCpu = Pinning.cpuOf(lock);
        } finally {
            tried.countDown();
        }
        try {
            final Channel in = ping;
            final Channel out = pong;
            while (running) {
                if (in.poll()) {
                    while (!out.offer()) {
                        Thread.onSpinWait();
                    }
                }
            }
        } finally {
            Pinning.release(lock);
        }
    }

    @TearDown(Level.Trial)
    public void stop() throws InterruptedException {
        running = false;
        echo.join(TimeUnit.SECONDS.toMillis(30));
        Pinning.release(pingerLock);
    }

    @Benchmark
    public void roundTrip() {
        final Channel out = ping;
        final Channel in = pong;
        while (!out.offer()) {
            Thread.onSpinWait();
        }
        while (!in.poll()) {
            // Plain spin: the answer is a few hundred nanoseconds away at most.
        }
    }
}
