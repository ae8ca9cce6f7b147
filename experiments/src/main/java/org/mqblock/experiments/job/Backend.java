package org.mqblock.experiments.job;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** The block driver under the virtio-blk device, as {@code mqb run --backend} names it. */
public enum Backend {
    /** No data movement: measures the block layer itself. */
    NULL("null", false),
    /** Off-heap RAM disk: the embedded default. */
    MEMORY("memory", false),
    /** A raw image file: real syscalls on the context's thread pool. */
    FILE("file", true),
    /** An emulated NVMe device: service times by timers, so queueing shows on few cores. */
    LATENCY("latency", false),
    /** The thin-provisioned image format in a real file. */
    THIN("thin", true);

    public final String label;
    /** Whether it lives in a file (a temporary one unless {@code --filename} names it). */
    public final boolean needsFile;

    Backend(String label, boolean needsFile) {
        this.label = label;
        this.needsFile = needsFile;
    }

    public static Backend parse(String s) {
        for (Backend b : values()) {
            if (b.label.equals(s.toLowerCase(Locale.ROOT))) {
                return b;
            }
        }
        throw new IllegalArgumentException("--backend '" + s + "' is not one of " + labels());
    }

    public static String labels() {
        return Arrays.stream(values()).map(b -> b.label).collect(Collectors.joining(", "));
    }

    @Override
    public String toString() {
        return label;
    }
}
