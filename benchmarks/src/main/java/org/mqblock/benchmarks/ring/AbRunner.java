package org.mqblock.benchmarks.ring;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.lang.invoke.MethodHandles;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import net.openhft.affinity.AffinityLock;

/**
 * An interleaved A/B of ring implementations in one JVM: rounds of round trip, burst-1 and
 * burst-32 throughput, each measured for the baseline and the subject back to back (ABBA order
 * from round to round, so a drift in machine load falls on both), on the same two pinned threads.
 * More than two candidates are measured the same way, their order rotating by one per round.
 * What a reader should take from it is the ratio of the two within each round; the spread of those
 * ratios over the rounds says how far to trust their median.
 *
 * <p>The measurements are those of {@link RingRoundTripBench} and {@link RingThroughputBench}
 * (channel capacity {@value RingThroughputBench#CAPACITY}, the same {@link Channel}s), without JMH's
 * harness: each candidate's loops are a hidden-class copy of {@link AbLoops}, so no call site is
 * shared between the candidates. Allocation is each worker's own {@code getCurrentThreadAllocatedBytes}
 * across its loop, per element moved (throughput) or per round trip.
 *
 * <p>Pinning: the first worker (consumer, echo) tries to reserve a CPU with Chronicle Affinity, then
 * the second (producer, pinger), which is kept off the first's CPU when it gets none; both keep their
 * CPU for the whole run. {@link Result#pinning} says what each was granted.
 */
public final class AbRunner {
    public static final String ROUND_TRIP = "round-trip";
    public static final String THROUGHPUT = "throughput";

    /**
     * One measurement: a candidate's value in one round. Units: ns per round trip, elements per us.
     * For throughput, {@code emptyPerOp} and {@code fullPerOp} are the consumer's calls that found the
     * channel empty and the producer's that found it full, per element moved: which side waited
     * for the other. NaN for round trips.
     */
    public record Sample(int round, String metric, int burst, String impl, double value, double allocBytesPerOp,
            double emptyPerOp, double fullPerOp) {}

    /** Every measured (not warm-up) sample, and one pinning line per worker. */
    public record Result(List<Sample> samples, List<String> pinning) {}

    /** The loops one candidate runs; implemented by {@link AbLoops} and its hidden copies. */
    interface Loops {
        void prepare(Channel first, Channel second);

        void consume(int burst, long durationNs);

        void produce(int burst);

        void ping(long durationNs);

        void echo();

        long count();

        long elapsedNs();

        long consumerIdle();

        long producerIdle();
    }

    private AbRunner() {}

    /**
     * Runs {@code warmupRounds} unrecorded rounds, then {@code rounds} recorded ones, each taking
     * about {@code 3 x candidates x measureNs}. {@code candidates.get(0)} is the baseline; with two
     * candidates the order alternates (ABBA), with more it rotates by one each round.
     *
     * <p>Context: any thread but the two workers it starts; blocks until they are done.
     *
     * @throws IllegalArgumentException for an unknown or repeated implementation name, fewer than
     *     two candidates, or a non-positive count
     */
    public static Result run(List<String> candidates, int warmupRounds, int rounds, long measureNs,
            PrintStream log) throws InterruptedException {
        Objects.requireNonNull(log, "log");
        if (candidates.size() < 2 || candidates.stream().distinct().count() != candidates.size()) {
            throw new IllegalArgumentException("need two or more distinct candidates: " + candidates);
        }
        for (String impl : candidates) {
            Channel.create(impl, 2);
        }
        if (warmupRounds < 0 || rounds <= 0 || measureNs <= 0) {
            throw new IllegalArgumentException("need warmupRounds >= 0, rounds > 0, measureNs > 0: "
                    + warmupRounds + ", " + rounds + ", " + measureNs);
        }
        final int n = candidates.size();
        Loops[] loops = new Loops[n];
        for (int c = 0; c < n; c++) {
            loops[c] = copyOfLoops();
        }
        List<Sample> samples = new ArrayList<>();
        List<String> pinning = new ArrayList<>();
        try (Workers workers = Workers.start(pinning)) {
            workers.calibrate();
            int[] bursts = {1, 32};
            for (int round = -warmupRounds; round < rounds; round++) {
                int[] order = order(n, round);
                for (int c : order) {
                    Sample s = roundTrip(workers, loops[c], candidates.get(c), round, measureNs);
                    if (round >= 0) {
                        samples.add(s);
                    }
                }
                for (int burst : bursts) {
                    for (int c : order) {
                        Sample s = throughput(workers, loops[c], candidates.get(c), burst, round, measureNs);
                        if (round >= 0) {
                            samples.add(s);
                        }
                    }
                }
                if (round == -1 || round == rounds - 1 || (round >= 0 && round % 5 == 4)) {
                    log.println(round < 0 ? "# ab: " + warmupRounds + " warm-up rounds done"
                            : String.format(Locale.ROOT, "# ab: round %d of %d done", round + 1, rounds));
                }
            }
        }
        return new Result(List.copyOf(samples), List.copyOf(pinning));
    }

    /** The candidates' order in {@code round}: rotated by one per round (for two, ABBA). Context: any thread. */
    public static int[] order(int n, int round) {
        int[] order = new int[n];
        int first = Math.floorMod(round, n);
        for (int i = 0; i < n; i++) {
            order[i] = (first + i) % n;
        }
        return order;
    }

    private static Sample roundTrip(Workers workers, Loops loops, String impl, int round, long measureNs)
            throws InterruptedException {
        loops.prepare(Channel.create(impl, RingThroughputBench.CAPACITY), Channel.create(impl, RingThroughputBench.CAPACITY));
        long[] alloc = workers.runPair(loops::echo, () -> loops.ping(measureNs));
        long trips = loops.count();
        double nsPerTrip = trips == 0 ? Double.NaN : (double) loops.elapsedNs() / trips;
        return new Sample(round, ROUND_TRIP, 1, impl, nsPerTrip, perOp(alloc[0] + alloc[1], trips), Double.NaN, Double.NaN);
    }

    private static Sample throughput(Workers workers, Loops loops, String impl, int burst, int round, long measureNs)
            throws InterruptedException {
        loops.prepare(Channel.create(impl, RingThroughputBench.CAPACITY), null);
        long[] alloc = workers.runPair(() -> loops.consume(burst, measureNs), () -> loops.produce(burst));
        long moved = loops.count();
        double perUs = loops.elapsedNs() == 0 ? Double.NaN : moved * 1000.0 / loops.elapsedNs();
        return new Sample(round, THROUGHPUT, burst, impl, perUs, perOp(alloc[0] + alloc[1], moved),
                perOp(loops.consumerIdle(), moved), perOp(loops.producerIdle(), moved));
    }

    private static double perOp(long amount, long ops) {
        return ops == 0 ? Double.NaN : (double) amount / ops;
    }

    /** A fresh hidden class defined from {@link AbLoops}'s bytes, and an instance of it. */
    static Loops copyOfLoops() {
        try (InputStream in = AbLoops.class.getResourceAsStream("AbLoops.class")) {
            if (in == null) {
                throw new IllegalStateException("AbLoops.class is not readable as a resource");
            }
            MethodHandles.Lookup copy = MethodHandles.lookup().defineHiddenClass(in.readAllBytes(), true);
            return (Loops) copy.findConstructor(copy.lookupClass(), java.lang.invoke.MethodType.methodType(void.class))
                    .invoke();
        } catch (IOException | ReflectiveOperationException e) {
            throw new IllegalStateException("cannot define a copy of AbLoops", e);
        } catch (Throwable e) {
            throw new IllegalStateException("AbLoops' constructor failed", e);
        }
    }

    /** Bytes allocated so far by the calling thread, or 0 where the JVM cannot say. */
    private static long allocatedBytes() {
        java.lang.management.ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        if (mx instanceof com.sun.management.ThreadMXBean sun && sun.isThreadAllocatedMemoryEnabled()) {
            return sun.getCurrentThreadAllocatedBytes();
        }
        return 0;
    }

    /**
     * The two pinned worker threads. Each takes jobs from its own queue; {@link #runPair} hands one
     * job to each and waits for both.
     */
    private static final class Workers implements AutoCloseable {
        private static final Runnable QUIT = () -> { };

        private final Worker first;
        private final Worker second;

        private Workers(Worker first, Worker second) {
            this.first = first;
            this.second = second;
        }

        /** Starts the first worker and lets it pin, then the second; appends what each was granted. */
        static Workers start(List<String> pinning) throws InterruptedException {
            Worker first = new Worker("ab-consumer", "consumer/echo", null);
            first.start();
            first.pinned.await();
            Worker second = new Worker("ab-producer", "producer/pinger", first);
            second.start();
            second.pinned.await();
            pinning.add(first.pinLine);
            pinning.add(second.pinLine);
            return new Workers(first, second);
        }

        /** What an empty job allocates on each worker (the allocation counter's own reads); subtracted from each job. */
        private final long[] overhead = new long[2];

        /** Measures {@link #overhead}: the least of a few empty jobs. */
        void calibrate() throws InterruptedException {
            long[] least = {Long.MAX_VALUE, Long.MAX_VALUE};
            for (int i = 0; i < 20; i++) {
                long[] a = runPair(() -> { }, () -> { });
                least[0] = Math.min(least[0], a[0]);
                least[1] = Math.min(least[1], a[1]);
            }
            overhead[0] = least[0];
            overhead[1] = least[1];
        }

        /**
         * Runs {@code onFirst} on the first worker and {@code onSecond} on the second; returns the
         * bytes each allocated meanwhile, less the calibrated overhead.
         */
        long[] runPair(Runnable onFirst, Runnable onSecond) throws InterruptedException {
            CountDownLatch done = new CountDownLatch(2);
            Job a = new Job(onFirst, done);
            Job b = new Job(onSecond, done);
            first.jobs.put(a::run);
            second.jobs.put(b::run);
            if (!done.await(120, TimeUnit.SECONDS)) {
                throw new IllegalStateException("an A/B measurement did not finish within 120 s");
            }
            for (Job j : new Job[] {a, b}) {
                if (j.failure.get() != null) {
                    throw new IllegalStateException("an A/B worker failed", j.failure.get());
                }
            }
            return new long[] {a.allocated - overhead[0], b.allocated - overhead[1]};
        }

        /** Tells both workers to quit and waits up to 10 s for each; keeps an interrupt for the caller. */
        @Override
        public void close() {
            try {
                first.jobs.put(QUIT);
                second.jobs.put(QUIT);
                first.join(10_000);
                second.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        /** One loop run on a worker, with the bytes the worker allocated while running it. */
        private static final class Job {
            final Runnable body;
            final CountDownLatch done;
            final AtomicReference<Throwable> failure = new AtomicReference<>();
            /** Written by the worker before {@code done.countDown()}; read by the runner after await. */
            long allocated;

            Job(Runnable body, CountDownLatch done) {
                this.body = body;
                this.done = done;
            }

            void run() {
                try {
                    long before = allocatedBytes();
                    body.run();
                    allocated = allocatedBytes() - before;
                } catch (Throwable t) {
                    failure.set(t);
                } finally {
                    done.countDown();
                }
            }
        }

        private static final class Worker extends Thread {
            final BlockingQueue<Runnable> jobs = new ArrayBlockingQueue<>(1);
            final CountDownLatch pinned = new CountDownLatch(1);
            private final String role;
            private final Worker partner;
            /** The first worker's CPU or -1: written by it before {@code pinned.countDown()}. */
            volatile int cpu = -1;
            /** What pinning did: written before {@code pinned.countDown()}, read after await. */
            volatile String pinLine = "";

            Worker(String name, String role, Worker partner) {
                super(name);
                this.role = role;
                this.partner = partner;
                setDaemon(true);
            }

            @Override
            public void run() {
                AffinityLock lock = null;
                try {
                    lock = Pinning.pin("RingAb", role, partner == null ? -1 : partner.cpu, line -> pinLine = line);
                    cpu = Pinning.cpuOf(lock);
                } finally {
                    pinned.countDown();
                }
                try {
                    for (Runnable job; (job = jobs.take()) != QUIT; ) {
                        job.run();
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } finally {
                    Pinning.release(lock);
                }
            }
        }
    }
}
