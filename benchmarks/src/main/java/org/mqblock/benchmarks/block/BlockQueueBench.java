package org.mqblock.benchmarks.block;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.mqblock.block.BlockBackend;
import org.mqblock.block.BlockRequest;
import org.mqblock.block.IoVector;
import org.mqblock.block.QueueSubmitter;
import org.mqblock.core.loop.IOThread;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The block layer's request path, end to end: a submitter thread keeps {@value #DEPTH} 4 KiB
 * reads in flight on one queue served by an IOThread (submission ring, validation, driver,
 * completion ring), so each op is one request. With {@code -prof gc} it shows whether the path
 * allocates per request (it must not).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class BlockQueueBench {

    static final int DEPTH = 32;

    @Param({"driver=null,size=1G", "driver=memory,size=256M"})
    public String device;

    private IOThread io;
    private BlockBackend dev;
    private QueueSubmitter submitter;
    private BlockRequest[] requests;
    private final java.util.function.Consumer<BlockRequest> resubmit = this::resubmit;
    private long offsetSeq;

    @Setup(Level.Trial)
    public void start() {
        io = IOThread.start("bench-io", IOThread.ANY_CPU);
        System.out.println("# " + io.info());
        dev = BlockBackend.open("bench", device, List.of(io.context()));
        submitter = dev.newSubmitter(0, DEPTH);
        requests = new BlockRequest[DEPTH];
        for (int i = 0; i < DEPTH; i++) {
            requests[i] = new BlockRequest().read(nextOffset(), IoVector.of(ByteBuffer.allocateDirect(4096)), submitter);
            submitter.offer(requests[i]);
        }
        submitter.kick();
    }

    private long nextOffset() {
        offsetSeq = offsetSeq * 6364136223846793005L + 1442695040888963407L;
        return ((offsetSeq >>> 20) % (dev.length() / 4096)) * 4096;
    }

    private void resubmit(BlockRequest r) {
        r.read(nextOffset(), r.iov(), submitter);
        submitter.offer(r);
    }

    @Benchmark
    @OperationsPerInvocation(DEPTH)
    public int requests() {
        int done = 0;
        while (done < DEPTH) {
            int n = submitter.awaitCompletions(resubmit, DEPTH);
            done += n;
            submitter.kick();
        }
        return done;
    }

    @TearDown(Level.Trial)
    public void stop() {
        while (submitter.outstanding() > 0) {
            submitter.awaitCompletions(r -> {}, DEPTH);
        }
        submitter.close();
        dev.close();
        io.close();
    }
}
