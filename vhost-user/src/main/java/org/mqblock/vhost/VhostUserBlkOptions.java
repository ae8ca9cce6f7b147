package org.mqblock.vhost;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.mqblock.block.BlockOptions;
import org.mqblock.virtio.VqMapping;

/**
 * What {@code mqb serve --export vhost-user-blk,...} asks for, in qemu-storage-daemon's
 * vocabulary ({@code --export type=vhost-user-blk,...}):
 *
 * <pre>
 * vhost-user-blk,addr.path=SOCK[,addr.type=unix][,id=NAME][,num-queues=N][,writable=on|off]
 *               [,logical-block-size=BYTES][,iothread-vq-mapping.I.iothread=IOTHREAD,iothread-vq-mapping.I.vqs.J=VQ...]
 * </pre>
 *
 * The virtqueue mapping is QEMU's {@code iothread-vq-mapping} (a list of {@code {iothread, vqs}})
 * written as keyval list keys, the form QEMU's dotted option syntax gives a list: entry {@code I}
 * names an IOThread and its virtqueues {@code vqs.0}, {@code vqs.1}, ...; indices count from 0
 * without gaps. Without it (or with {@code iothread-vq-mapping=round-robin}) virtqueue {@code i}
 * goes to IOThread {@code i mod N} of all N IOThreads. For example, 4
 * virtqueues on {@code io0} (0 and 2) and {@code io1} (1 and 3):
 *
 * <pre>
 * iothread-vq-mapping.0.iothread=io0,iothread-vq-mapping.0.vqs.0=0,iothread-vq-mapping.0.vqs.1=2,
 * iothread-vq-mapping.1.iothread=io1,iothread-vq-mapping.1.vqs.0=1,iothread-vq-mapping.1.vqs.1=3
 * </pre>
 *
 * Defaults as qemu-storage-daemon's: one virtqueue, read-only, 512-byte logical blocks. A comma
 * inside a value is written twice ({@code ,,}). Immutable: any thread.
 *
 * @param vqMapping IOThread id to its virtqueues, in the order given; empty for round-robin
 */
public record VhostUserBlkOptions(String id, Path socketPath, int numQueues, boolean writable, int logicalBlockSize,
                                  Map<String, List<Integer>> vqMapping) {

    /** The export type, the first word of the option string. */
    public static final String TYPE = "vhost-user-blk";
    /** The most virtqueues: SET_VRING_KICK, CALL and ERR name a ring in 8 bits. */
    public static final int MAX_QUEUES = 256;
    /** Bounds for a logical block size: virtio-blk's sector, and the most Linux's virtio_blk accepts. */
    public static final int MIN_BLOCK_SIZE = 512;
    public static final int MAX_BLOCK_SIZE = 64 << 10;

    private static final String MAPPING = "iothread-vq-mapping";
    private static final List<String> ACCEPTED = List.of("id", "addr.type", "addr.path", "num-queues", "writable",
            "logical-block-size", MAPPING + "=round-robin", MAPPING + ".I.iothread", MAPPING + ".I.vqs.J");

    public VhostUserBlkOptions {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(socketPath, "socketPath");
        if (numQueues < 1 || numQueues > MAX_QUEUES) {
            throw new IllegalArgumentException("num-queues must be 1 to " + MAX_QUEUES + ", got " + numQueues);
        }
        if (logicalBlockSize < MIN_BLOCK_SIZE || logicalBlockSize > MAX_BLOCK_SIZE
                || Integer.bitCount(logicalBlockSize) != 1) {
            throw new IllegalArgumentException("logical-block-size must be a power of two from " + MIN_BLOCK_SIZE
                    + " to " + MAX_BLOCK_SIZE + ", got " + logicalBlockSize);
        }
        Map<String, List<Integer>> copy = new LinkedHashMap<>();
        vqMapping.forEach((k, v) -> copy.put(k, List.copyOf(v)));
        vqMapping = java.util.Collections.unmodifiableMap(copy);
    }

    /** Whether an {@code --export} value selects this export type rather than naming an NBD export. */
    public static boolean selects(String export) {
        return export.equals(TYPE) || export.startsWith(TYPE + ",");
    }

    /**
     * Parses an {@code --export} value that {@link #selects} this type.
     *
     * @throws IllegalArgumentException naming the key at fault and listing the accepted ones
     */
    public static VhostUserBlkOptions parse(String export) {
        if (!selects(export)) {
            throw new IllegalArgumentException("'" + export + "' is not a " + TYPE + " export");
        }
        BlockOptions o = BlockOptions.parse(export.substring(TYPE.length()).replaceFirst("^,", ""));
        String type = o.string("addr.type", "unix");
        if (!type.equals("unix")) {
            throw new IllegalArgumentException(TYPE + ": addr.type '" + type + "' is not supported; only unix");
        }
        if (!o.has("addr.path")) {
            throw new IllegalArgumentException(TYPE + ": addr.path=SOCKET is required (the Unix socket to listen on)");
        }
        Path path = Path.of(o.string("addr.path"));
        String id = o.string("id", TYPE + "0");
        int queues = (int) o.integer("num-queues", 1, 1, MAX_QUEUES);
        boolean writable = o.bool("writable", false);
        int lbs = (int) o.size("logical-block-size", MIN_BLOCK_SIZE, MIN_BLOCK_SIZE, MAX_BLOCK_SIZE);
        Map<String, List<Integer>> mapping = new LinkedHashMap<>();
        String whole = o.string(MAPPING, "round-robin");
        if (!whole.equals("round-robin")) {
            throw new IllegalArgumentException(TYPE + ": " + MAPPING + "=" + whole + ": only round-robin is written"
                    + " as one value; an explicit mapping is a list, " + MAPPING + ".0.iothread=IOTHREAD,"
                    + MAPPING + ".0.vqs.0=VQ,...");
        }
        for (int i = 0; o.has(MAPPING + "." + i + ".iothread"); i++) {
            String thread = o.string(MAPPING + "." + i + ".iothread");
            List<Integer> vqs = new ArrayList<>();
            for (int j = 0; o.has(MAPPING + "." + i + ".vqs." + j); j++) {
                vqs.add((int) o.integer(MAPPING + "." + i + ".vqs." + j, 0, 0, MAX_QUEUES - 1));
            }
            if (vqs.isEmpty()) {
                throw new IllegalArgumentException(TYPE + ": " + MAPPING + "." + i + " (IOThread '" + thread
                        + "') lists no virtqueues: give " + MAPPING + "." + i + ".vqs.0=VQ");
            }
            if (mapping.put(thread, vqs) != null) {
                throw new IllegalArgumentException(TYPE + ": IOThread '" + thread + "' appears more than once in "
                        + MAPPING);
            }
        }
        if (o.has(MAPPING) && !mapping.isEmpty()) {
            throw new IllegalArgumentException(TYPE + ": " + MAPPING + "=round-robin and an explicit " + MAPPING
                    + " list exclude each other");
        }
        // Keys left over: a gap in a list's indices, a typo, a key of another export type.
        o.checkAllUsed(TYPE + " (list indices count from 0 without gaps)", ACCEPTED);
        return new VhostUserBlkOptions(id, path, queues, writable, lbs, mapping);
    }

    /**
     * The virtqueue-to-IOThread mapping over the IOThreads {@code iothreadIds}: explicit when given,
     * else round-robin. Call before starting anything: it validates.
     *
     * @throws IllegalArgumentException naming the virtqueue or IOThread at fault
     */
    public VqMapping mapping(List<String> iothreadIds) {
        if (vqMapping.isEmpty()) {
            return VqMapping.roundRobin(numQueues, iothreadIds.size());
        }
        Map<String, int[]> m = new LinkedHashMap<>();
        vqMapping.forEach((k, v) -> m.put(k, v.stream().mapToInt(Integer::intValue).toArray()));
        return VqMapping.explicit(numQueues, iothreadIds, m);
    }
}
