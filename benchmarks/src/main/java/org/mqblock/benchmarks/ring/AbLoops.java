package org.mqblock.benchmarks.ring;

/**
 * The timed loops of the interleaved A/B run ({@link AbRunner}). This class itself never runs:
 * the runner defines one hidden class per candidate from these same bytes, so that each candidate's
 * loops have call sites of their own that see a single {@link Channel} class, which C2 inlines, as
 * in a JMH fork that runs one implementation. (Shared loops would see both candidates' channels
 * and make the calls bimorphic for both.) Hence no lambdas and no nested classes here: a hidden copy
 * must resolve every name it uses to an ordinary class of this package.
 *
 * <p>Two threads use one instance at a time: {@link AbRunner}'s first worker (consumer, echo) and
 * its second (producer, pinger). {@link #prepare} runs before either is handed the job, and the
 * results are read after both have finished; the runner's job queue and latch order those accesses.
 */
final class AbLoops implements AbRunner.Loops {
    /** How many loop turns between two looks at the clock: a clock read costs about 20 ns. */
    private static final int CLOCK_EVERY = 1024;

    /** Set by {@link #prepare} (runner thread) before the job is handed out; read plain after. */
    private Channel first;
    private Channel second;

    /** Written once per job by the side that starts timing; the other side spins on it. */
    private volatile boolean go;
    /** Written once per job by the side that stops timing; the other side's loop reads it each turn. */
    private volatile boolean stop;

    /** Results: written by the timing side before its job ends; read by the runner after the latch. */
    private long count;
    private long elapsedNs;
    /** Calls that moved nothing (consumer: found empty; producer: found full), by the side that made them. */
    private long consumerIdle;
    private long producerIdle;

    @Override
    public void prepare(Channel first, Channel second) {
        this.first = first;
        this.second = second;
        this.go = false;
        this.stop = false;
        this.count = 0;
        this.elapsedNs = 0;
        this.consumerIdle = 0;
        this.producerIdle = 0;
    }

    @Override
    public long count() {
        return count;
    }

    @Override
    public long elapsedNs() {
        return elapsedNs;
    }

    @Override
    public long consumerIdle() {
        return consumerIdle;
    }

    @Override
    public long producerIdle() {
        return producerIdle;
    }

    /** Consumer side of a throughput measurement: times {@code durationNs} of polls or drains. */
    @Override
    public void consume(int burst, long durationNs) {
        final Channel in = first;
        long moved = 0;
        long idle = 0;
        int turns = 0;
        final long start = System.nanoTime();
        final long deadline = start + durationNs;
        go = true;
        long now;
        if (burst == 1) {
            while (true) {
                if (in.poll()) {
                    moved++;
                } else {
                    idle++;
                }
                if (++turns == CLOCK_EVERY) {
                    turns = 0;
                    if ((now = System.nanoTime()) >= deadline) {
                        break;
                    }
                }
            }
        } else {
            while (true) {
                int n = in.drain(burst);
                if (n == 0) {
                    idle++;
                }
                moved += n;
                if (++turns == CLOCK_EVERY) {
                    turns = 0;
                    if ((now = System.nanoTime()) >= deadline) {
                        break;
                    }
                }
            }
        }
        stop = true;
        count = moved;
        consumerIdle = idle;
        elapsedNs = now - start;
    }

    /** Producer side of a throughput measurement: offers or fills until the consumer stops timing. */
    @Override
    public void produce(int burst) {
        final Channel out = first;
        while (!go) {
            Thread.onSpinWait();
        }
        long idle = 0;
        if (burst == 1) {
            while (!stop) {
                if (!out.offer()) {
                    idle++;
                }
            }
        } else {
            while (!stop) {
                if (out.fill(burst) == 0) {
                    idle++;
                }
            }
        }
        producerIdle = idle;
    }

    /** Pinger of a round-trip measurement: times {@code durationNs} of offer-on-first, poll-on-second. */
    @Override
    public void ping(long durationNs) {
        final Channel out = first;
        final Channel in = second;
        while (!go) {
            Thread.onSpinWait();
        }
        long trips = 0;
        int turns = 0;
        final long start = System.nanoTime();
        final long deadline = start + durationNs;
        long now;
        while (true) {
            while (!out.offer()) {
                Thread.onSpinWait();
            }
            while (!in.poll()) {
                // Plain spin, as in RingRoundTripBench: the answer is a few hundred ns away.
            }
            trips++;
            if (++turns == CLOCK_EVERY) {
                turns = 0;
                if ((now = System.nanoTime()) >= deadline) {
                    break;
                }
            }
        }
        stop = true;
        count = trips;
        elapsedNs = now - start;
    }

    /** Echo of a round-trip measurement: sends back each element until the pinger stops timing. */
    @Override
    public void echo() {
        final Channel in = first;
        final Channel out = second;
        go = true;
        while (!stop) {
            if (in.poll()) {
                while (!out.offer()) {
                    Thread.onSpinWait();
                }
            }
        }
    }
}
