package org.mqblock.experiments.img;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The {@code -o key=value,...} creation options, as qemu-img names them: {@code size},
 * {@code cluster_size}, {@code backing_file}, {@code backing_fmt}; raw takes only {@code size}.
 */
record CreateOptions(Map<String, String> values) {

    private static final Set<String> RAW = Set.of("size");
    private static final Set<String> THIN = Set.of("size", "cluster_size", "backing_file", "backing_fmt");

    /** Parses {@code -o} (null: none) for {@code format}; an unknown key is refused by name. */
    static CreateOptions parse(String option, ImageFormat format) {
        Map<String, String> v = new LinkedHashMap<>();
        if (option != null && !option.isEmpty()) {
            for (String kv : option.split(",")) {
                int eq = kv.indexOf('=');
                String key = eq < 0 ? kv : kv.substring(0, eq);
                if (!(format == ImageFormat.RAW ? RAW : THIN).contains(key)) {
                    throw new IllegalArgumentException("Invalid parameter '" + key + "' for format '" + format.name
                            + "' (it takes " + String.join(", ", (format == ImageFormat.RAW ? RAW : THIN)) + ")");
                }
                if (eq < 0) {
                    throw new IllegalArgumentException("Parameter '" + key + "' needs a value (" + key + "=...)");
                }
                v.put(key, kv.substring(eq + 1));
            }
        }
        return new CreateOptions(v);
    }

    String get(String key) {
        return values.get(key);
    }

    /** The cluster size ({@code cluster_size}, default 64 KiB). */
    int clusterSize(int defaultSize) {
        String s = values.get("cluster_size");
        if (s == null) {
            return defaultSize;
        }
        long n = Sizes.parse(s);
        if (n < 4096 || n > (2 << 20) || Long.bitCount(n) != 1) {
            throw new IllegalArgumentException("Cluster size must be a power of two between 4k and 2M, got " + s);
        }
        return (int) n;
    }
}
