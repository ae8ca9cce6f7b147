package org.mqblock.block;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.block.driver.FileDriver;
import org.mqblock.block.driver.LatencyDriver;
import org.mqblock.block.driver.MemoryDriver;
import org.mqblock.block.driver.NullDriver;
import org.mqblock.block.driver.ImageAccess;
import org.mqblock.block.driver.ThinImage;

/**
 * Opens a driver from options ({@code driver=...} and that driver's keys). Each driver's keys,
 * with their meaning:
 *
 * <ul>
 *   <li>{@code null}: {@code size} (1G), {@code zero} on/off (zero-fill reads, off),
 *       {@code complete} inline|bh (bh), {@code mq-safe} on/off (on; off makes the block layer
 *       serialize the node)
 *   <li>{@code memory}: {@code size} (1G)
 *   <li>{@code file}: {@code filename} (required), {@code cache} writeback|none (writeback; none is
 *       O_DIRECT), {@code size} (create the image at this size if it does not exist)
 *   <li>{@code latency}: {@code size} (1G), mean media times {@code read-latency-us} (85),
 *       {@code write-latency-us} (20), {@code flush-latency-us} (0), or {@code latency-us} for all
 *       three; link bandwidths in MB/s (10^6 bytes) {@code read-bw} (3200), {@code write-bw}
 *       (1050), 0 for none; {@code dist} fixed|exp|uniform (exp), {@code parallelism} (internal
 *       channels, 42), {@code data} memory|none (memory), {@code error-rate} (0), {@code seed}
 *       (1). The defaults model an Intel DC P4500 2.0 TB (see {@link LatencyDriver}).
 *   <li>{@code thin}: {@code filename} (required), {@code size}, {@code cluster-size} (64k) and
 *       {@code backing} (a backing image) to create the image if it does not exist
 * </ul>
 */
public final class BlockDrivers {

    /** Keys each driver reads, for the "unknown option" message. */
    public static final Map<String, Set<String>> KEYS = Map.of(
            "null", Set.of("size", "zero", "complete", "mq-safe"),
            "memory", Set.of("size"),
            "file", Set.of("filename", "cache", "size"),
            "latency", Set.of("size", "latency-us", "read-latency-us", "write-latency-us", "flush-latency-us", "read-bw",
                    "write-bw", "dist", "parallelism", "data", "error-rate", "seed"),
            "thin", Set.of("filename", "size", "cluster-size", "backing"));

    private static final long MAX_SIZE = 1L << 50;
    private static final double MAX_LATENCY_US = 10_000_000;

    /** The latency driver's timing: its defaults, each overridable; {@code latency-us} sets all three media times. */
    private static LatencyDriver.Model latencyModel(BlockOptions o) {
        LatencyDriver.Model d = LatencyDriver.Model.P4500;
        double all = o.number("latency-us", -1, 0, MAX_LATENCY_US);
        double read = o.number("read-latency-us", all >= 0 ? all : d.readNs() / 1e3, 0, MAX_LATENCY_US);
        double write = o.number("write-latency-us", all >= 0 ? all : d.writeNs() / 1e3, 0, MAX_LATENCY_US);
        double flush = o.number("flush-latency-us", all >= 0 ? all : d.flushNs() / 1e3, 0, MAX_LATENCY_US);
        return new LatencyDriver.Model(Math.round(read * 1e3), Math.round(write * 1e3), Math.round(flush * 1e3),
                o.number("read-bw", d.readBytesPerSec() / 1e6, 0, 1e9) * 1e6,
                o.number("write-bw", d.writeBytesPerSec() / 1e6, 0, 1e9) * 1e6,
                (int) o.integer("parallelism", d.parallelism(), 1, 65_536));
    }

    private BlockDrivers() {}

    /** The driver named by {@code driver=} (default {@code memory}), opened with its options. */
    public static BlockDriver open(BlockOptions o) throws IOException {
        String name = o.choice("driver", "memory", new TreeSet<>(KEYS.keySet()));
        return switch (name) {
            case "null" -> new NullDriver(o.size("size", 1L << 30, 0, MAX_SIZE), o.bool("zero", false),
                    o.choice("complete", "bh", List.of("inline", "bh")).equals("bh"), o.bool("mq-safe", true));
            case "memory" -> new MemoryDriver(o.size("size", 1L << 30, 0, MAX_SIZE));
            case "file" -> openFile(o);
            case "latency" -> new LatencyDriver(o.size("size", 1L << 30, 0, MAX_SIZE), latencyModel(o),
                    LatencyDriver.Distribution.valueOf(o.choice("dist", "exp", LatencyDriver.Distribution.NAMES)
                            .toUpperCase(java.util.Locale.ROOT)),
                    o.choice("data", "memory", List.of("memory", "none")).equals("memory"),
                    o.number("error-rate", 0, 0, 1), o.integer("seed", 1, Long.MIN_VALUE, Long.MAX_VALUE));
            case "thin" -> openThin(o);
            default -> throw new AssertionError(name);
        };
    }

    private static BlockDriver openFile(BlockOptions o) throws IOException {
        Path path = Path.of(o.string("filename"));
        boolean direct = o.choice("cache", "writeback", List.of("writeback", "none")).equals("none");
        if (o.has("size") && !Files.exists(path)) {
            FileDriver.create(path, o.size("size", 0, 0, MAX_SIZE));
        } else {
            o.size("size", 0, 0, MAX_SIZE); // read, so it is not reported unknown
        }
        return FileDriver.open(path, direct);
    }

    private static BlockDriver openThin(BlockOptions o) throws IOException {
        Path path = Path.of(o.string("filename"));
        long size = o.size("size", -1, 0, MAX_SIZE);
        int cluster = (int) o.size("cluster-size", ThinImage.DEFAULT_CLUSTER_SIZE, 4096, 2 << 20);
        String backing = o.string("backing", null);
        if (!Files.exists(path)) {
            if (size < 0 && backing == null) {
                throw new IllegalArgumentException("thin image '" + path + "' does not exist: give 'size' (or 'backing') to create it");
            }
            if (size < 0) {
                try (BlockDriver b = ThinImage.openImage(ThinImage.resolveBacking(path, backing), ImageAccess.READ)) {
                    size = b.length();
                }
            }
            ThinImage.create(path, size, cluster, backing);
        }
        return ThinImage.open(path, ImageAccess.WRITE);
    }
}
