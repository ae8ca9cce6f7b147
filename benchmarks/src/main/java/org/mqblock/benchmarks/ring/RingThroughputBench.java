package org.mqblock.benchmarks.ring;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import net.openhft.affinity.AffinityLock;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Group;
import org.openjdk.jmh.annotations.GroupThreads;
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
 * SPSC throughput between two threads: one JMH thread produces, another consumes, both spinning
 * without back-off. The primary score counts invocations (including ones that found the channel
 * full or empty) and means little; the result is the {@code polled} counter, elements moved per
 * microsecond. With {@code burst = 32} each invocation fills and drains up to 32 elements with the
 * implementation's batch operations where it has them (see {@link Channel}).
 *
 * <p>Both threads try to pin, the consumer first, so on a machine with one reservable CPU it is
 * always the consumer that gets it and the producer is kept off that CPU; each trial records what
 * happened (see {@link Pinning}).
 */
@State(Scope.Group)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 4, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 2, jvmArgsAppend = {"-Xms512m", "-Xmx512m"})
public class RingThroughputBench {
    static final int CAPACITY = 1024;

    @Param({Channel.SPSC_RING, Channel.SPSC_LONG_RING, Channel.JCTOOLS, Channel.AGRONA_QUEUE,
            Channel.AGRONA_RING_BUFFER, Channel.DISRUPTOR, Channel.ABQ})
    public String impl;

    @Param({"1", "32"})
    public int burst;

    /** Written in the group's trial setup, before either thread's first invocation; read plain after. */
    Channel channel;

    /** Counted down by the consumer once it has tried to pin; the producer waits for it to try first. */
    final CountDownLatch consumerTried = new CountDownLatch(1);

    /** The consumer's CPU or -1. Written by the consumer before {@code consumerTried.countDown()}; read plain by the producer after await. */
    int consumerCpu = -1;

    @Setup(Level.Trial)
    public void create() {
        channel = Channel.create(impl, CAPACITY);
    }

    String trial() {
        return "RingThroughputBench impl=" + impl + " burst=" + burst;
    }

    /** Producer-side counters, reset per iteration. Producer thread only. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Produced {
        public long offered;
        public long offersFull;

        @Setup(Level.Iteration)
        public void reset() {
            offered = 0;
            offersFull = 0;
        }
    }

    /** Consumer-side counters, reset per iteration. Consumer thread only. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Consumed {
        public long polled;
        public long pollsEmpty;

        @Setup(Level.Iteration)
        public void reset() {
            polled = 0;
            pollsEmpty = 0;
        }
    }

    /** The producer thread's CPU reservation. Producer thread only. */
    @State(Scope.Thread)
    public static class ProducerPin {
        AffinityLock lock;

        @Setup(Level.Trial)
        public void pin(RingThroughputBench group) throws InterruptedException {
            if (!group.consumerTried.await(30, TimeUnit.SECONDS)) {
                System.out.println("# pin: consumer did not try within 30 s; producer tries now");
            }
            lock = Pinning.pin(group.trial(), "producer", group.consumerCpu);
        }

        @TearDown(Level.Trial)
        public void release() {
            Pinning.release(lock);
        }
    }

    /** The consumer thread's CPU reservation. Consumer thread only. */
    @State(Scope.Thread)
    public static class ConsumerPin {
        AffinityLock lock;

        @Setup(Level.Trial)
        public void pin(RingThroughputBench group) {
            try {
                lock = Pinning.pin(group.trial(), "consumer", -1);
                group.consumerCpu = Pinning.cpuOf(lock);
            } finally {
                group.consumerTried.countDown();
            }
        }

        @TearDown(Level.Trial)
        public void release() {
            Pinning.release(lock);
        }
    }

    @Benchmark
    @Group("tpt")
    @GroupThreads(1)
    public void produce(Produced counters, ProducerPin pin) {
        if (burst == 1) {
            if (channel.offer()) {
                counters.offered++;
            } else {
                counters.offersFull++;
            }
        } else {
            int n = channel.fill(burst);
            if (n > 0) {
                counters.offered += n;
            } else {
                counters.offersFull++;
            }
        }
    }

    @Benchmark
    @Group("tpt")
    @GroupThreads(1)
    public void consume(Consumed counters, ConsumerPin pin) {
        if (burst == 1) {
            if (channel.poll()) {
                counters.polled++;
            } else {
                counters.pollsEmpty++;
            }
        } else {
            int n = channel.drain(burst);
            if (n > 0) {
                counters.polled += n;
            } else {
                counters.pollsEmpty++;
            }
        }
    }
}
