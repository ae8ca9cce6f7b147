package org.mqblock.experiments.job;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** fio's {@code --rw}: the I/O pattern of a job. */
public enum Rw {
    READ("read", false, 1.0),
    WRITE("write", false, 0.0),
    RANDREAD("randread", true, 1.0),
    RANDWRITE("randwrite", true, 0.0),
    RANDRW("randrw", true, 0.5);

    public final String label;
    public final boolean random;
    /** Share of requests that are reads (fio's rwmixread, 50% for randrw). */
    public final double readShare;

    Rw(String label, boolean random, double readShare) {
        this.label = label;
        this.random = random;
        this.readShare = readShare;
    }

    public static Rw parse(String s) {
        for (Rw r : values()) {
            if (r.label.equals(s.toLowerCase(Locale.ROOT))) {
                return r;
            }
        }
        throw new IllegalArgumentException("--rw '" + s + "' is not one of " + labels());
    }

    public static String labels() {
        return Arrays.stream(values()).map(r -> r.label).collect(Collectors.joining(", "));
    }

    public boolean reads() {
        return readShare > 0;
    }

    public boolean writes() {
        return readShare < 1;
    }

    @Override
    public String toString() {
        return label;
    }
}
