package org.mqblock.block;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.mqblock.block.driver.ImageAccess;
import org.mqblock.block.driver.ThinImage;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.IOThread;

/**
 * Drained sections and live graph changes under verified multi-queue load: every few milliseconds
 * the main loop resizes the device, takes an external snapshot, changes the number of queues or
 * moves a queue to another IOThread, while four threads read and write through their submitters.
 * Nothing may be lost, completed twice, or read back wrong, during the run, at its end, and after
 * the image chain is closed and reopened.
 */
class GraphChangeUnderLoadTest {

    private static final long SIZE = 16 << 20;
    private static final long WORK = 4 << 20;
    /** Graph operations per run; raise with -Dmqblock.graph.ops=N for a longer soak. */
    private static final int OPS = Integer.getInteger("mqblock.graph.ops", 120);

    enum Op { RESIZE, SNAPSHOT, QUEUES, MOVE }

    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"memory", "file", "thin", "latency"})
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void nothingLostDuplicatedOrCorruptedAcrossGraphChanges(String kind) throws Exception {
        String options = switch (kind) {
            case "memory" -> "driver=memory,size=" + SIZE;
            case "file" -> "driver=file,filename=" + dir.resolve("base.raw") + ",size=" + SIZE;
            case "thin" -> "driver=thin,filename=" + dir.resolve("base.thin") + ",size=" + SIZE + ",cluster-size=16k";
            case "latency" -> "driver=latency,size=" + SIZE + ",latency-us=30,dist=exp,parallelism=8";
            default -> throw new IllegalArgumentException(kind);
        };
        boolean snapshots = kind.equals("file") || kind.equals("thin");
        List<IOThread> ioThreads = List.of(IOThread.start(kind + "-io0", IOThread.UNPINNED),
                IOThread.start(kind + "-io1", IOThread.UNPINNED), IOThread.start(kind + "-io2", IOThread.UNPINNED));
        List<AioContext> contexts = ioThreads.stream().map(IOThread::context).toList();
        Map<Op, Integer> done = new EnumMap<>(Op.class);
        List<Path> overlays = new ArrayList<>();
        BlockBackend dev = BlockBackend.open(kind, options + ",queues=2", contexts);
        long[] generations;
        try {
            VerifyWorkload load = new VerifyWorkload(dev.node(), 4, 16, WORK, kind.hashCode()).start();
            SplittableRandom random = new SplittableRandom(7);
            BlockDriverState node = dev.node();
            for (int i = 0; i < OPS; i++) {
                Thread.sleep(random.nextInt(1, 5));
                Op op = Op.values()[random.nextInt(Op.values().length)];
                switch (op) {
                    case RESIZE -> node.resize(node.length() == SIZE ? SIZE + (1 << 20) : SIZE);
                    case SNAPSHOT -> {
                        if (!snapshots) {
                            continue;
                        }
                        Path overlay = dir.resolve("snap" + i + ".thin");
                        node.snapshot(overlay, 64 << 10);
                        overlays.add(overlay);
                    }
                    case QUEUES -> node.setQueueCount(random.nextInt(1, 5), contexts);
                    case MOVE -> node.moveQueue(random.nextInt(node.queueCount()),
                            contexts.get(random.nextInt(contexts.size())));
                }
                done.merge(op, 1, Integer::sum);
                String problem = load.problem();
                if (problem != null) {
                    load.stop();
                    fail("after " + op + " (graph operation " + i + "): " + problem);
                }
            }
            load.stop();
            assertEquals(0, load.verifyFailures.get(), "reads that did not verify; first: " + load.firstFailure);
            assertEquals(0, load.errors.get(), "error statuses; first: " + load.firstFailure);
            assertEquals(0, load.duplicates.get(), "completions of requests not in flight");
            assertEquals(load.submitted.get(), load.completed.get(), "requests lost");
            assertTrue(load.reads.get() > 100 && load.writes.get() > 100, "the load ran: " + load.reads + " reads, "
                    + load.writes + " writes");
            assertEquals(0, node.inFlight());
            generations = load.generations;
            VerifyWorkload.verifyAll(node, generations);
            for (IOThread t : ioThreads) {
                assertEquals(0, t.failureCount(), t.id() + ": " + t.firstFailure());
            }
            System.out.printf("%s: %s graph operations, %d reads and %d writes verified, %d queues at the end%n",
                    kind, done, load.reads.get(), load.writes.get(), node.queueCount());
        } finally {
            dev.close();
        }
        if (snapshots) {
            for (Path overlay : overlays) {
                ThinImage.CheckResult check = ThinImage.check(overlay);
                assertTrue(check.consistent(), overlay + ": " + check.errors());
            }
            // The whole chain, reopened from the newest file, holds every acknowledged write.
            Path top = overlays.isEmpty() ? dir.resolve(kind.equals("file") ? "base.raw" : "base.thin")
                    : overlays.get(overlays.size() - 1);
            BlockDriverState reopened = BlockDriverState.create("reopened", ThinImage.openImage(top, ImageAccess.WRITE), contexts);
            try {
                VerifyWorkload.verifyAll(reopened, generations);
            } finally {
                reopened.close();
            }
        }
        for (IOThread t : ioThreads) {
            t.close();
        }
    }
}
