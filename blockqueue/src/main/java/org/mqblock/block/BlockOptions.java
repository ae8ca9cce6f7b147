package org.mqblock.block;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;

/**
 * A QEMU-style options string, {@code driver=file,filename=disk.img,queues=4}: comma-separated
 * {@code key=value} pairs, a comma inside a value written twice ({@code ,,}). Every error names the
 * key and says what would have been accepted; {@link #checkAllUsed} reports keys nobody asked for.
 *
 * <p>Not threadsafe; parse on the thread that opens the device.
 */
public final class BlockOptions {

    private final String source;
    private final Map<String, String> values = new LinkedHashMap<>();
    private final TreeSet<String> used = new TreeSet<>();

    private BlockOptions(String source) {
        this.source = source;
    }

    /** Parses {@code options}; fails on an empty key, a missing '=', or a key given twice. */
    public static BlockOptions parse(String options) {
        BlockOptions o = new BlockOptions(options);
        if (options == null || options.isBlank()) {
            return o;
        }
        List<String> parts = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        for (int i = 0; i < options.length(); i++) {
            char c = options.charAt(i);
            if (c == ',') {
                if (i + 1 < options.length() && options.charAt(i + 1) == ',') {
                    cur.append(',');
                    i++;
                } else {
                    parts.add(cur.toString());
                    cur.setLength(0);
                }
            } else {
                cur.append(c);
            }
        }
        parts.add(cur.toString());
        for (String part : parts) {
            int eq = part.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("bad option '" + part + "' in '" + options
                        + "': expected key=value");
            }
            String key = part.substring(0, eq).trim();
            if (o.values.put(key, part.substring(eq + 1)) != null) {
                throw new IllegalArgumentException("option '" + key + "' given twice in '" + options + "'");
            }
        }
        return o;
    }

    public boolean has(String key) {
        return values.containsKey(key);
    }

    /** A required string option. */
    public String string(String key) {
        String v = values.get(key);
        if (v == null) {
            throw new IllegalArgumentException("missing option '" + key + "' in '" + source + "'");
        }
        used.add(key);
        return v;
    }

    public String string(String key, String fallback) {
        return has(key) ? string(key) : fallback;
    }

    /** One of {@code accepted} (case-insensitive), or {@code fallback} when absent. */
    public String choice(String key, String fallback, Collection<String> accepted) {
        String v = string(key, fallback).toLowerCase(Locale.ROOT);
        if (!accepted.contains(v)) {
            throw new IllegalArgumentException("option '" + key + "': '" + v + "' is not one of " + accepted);
        }
        return v;
    }

    public boolean bool(String key, boolean fallback) {
        return switch (choice(key, fallback ? "on" : "off", List.of("on", "off", "true", "false", "yes", "no"))) {
            case "on", "true", "yes" -> true;
            default -> false;
        };
    }

    public long integer(String key, long fallback, long min, long max) {
        if (!has(key)) {
            return fallback;
        }
        String v = string(key).trim();
        long n;
        try {
            n = Long.parseLong(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("option '" + key + "': '" + v + "' is not an integer");
        }
        checkRange(key, n, min, max);
        return n;
    }

    public double number(String key, double fallback, double min, double max) {
        if (!has(key)) {
            return fallback;
        }
        String v = string(key).trim();
        double n;
        try {
            n = Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("option '" + key + "': '" + v + "' is not a number");
        }
        if (!(n >= min && n <= max)) {
            throw new IllegalArgumentException("option '" + key + "': " + v + " is outside [" + min + ", " + max + "]");
        }
        return n;
    }

    /** A byte size with an optional suffix: k, M, G, T (powers of 1024), e.g. {@code 64k}, {@code 1G}. */
    public long size(String key, long fallback, long min, long max) {
        if (!has(key)) {
            return fallback;
        }
        String v = string(key).trim();
        long n = parseSize(v);
        if (n < 0) {
            throw new IllegalArgumentException("option '" + key + "': '" + v
                    + "' is not a size (a number with an optional k, M, G or T suffix)");
        }
        checkRange(key, n, min, max);
        return n;
    }

    /** Parses {@code 4096}, {@code 4k}, {@code 1G}...; -1 when malformed. */
    public static long parseSize(String v) {
        if (v.isEmpty()) {
            return -1;
        }
        char last = Character.toLowerCase(v.charAt(v.length() - 1));
        int shift = switch (last) {
            case 'k' -> 10;
            case 'm' -> 20;
            case 'g' -> 30;
            case 't' -> 40;
            default -> 0;
        };
        String digits = shift == 0 ? v : v.substring(0, v.length() - 1);
        try {
            long n = Long.parseLong(digits);
            if (n < 0 || n > (Long.MAX_VALUE >> shift)) {
                return -1;
            }
            return n << shift;
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static void checkRange(String key, long n, long min, long max) {
        if (n < min || n > max) {
            throw new IllegalArgumentException("option '" + key + "': " + n + " is outside [" + min + ", " + max + "]");
        }
    }

    /** Fails naming every key no one read, listing the keys that {@code what} accepts. */
    public void checkAllUsed(String what, Collection<String> accepted) {
        List<String> unknown = new ArrayList<>();
        for (String key : values.keySet()) {
            if (!used.contains(key)) {
                unknown.add(key);
            }
        }
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException("unknown option" + (unknown.size() > 1 ? "s " : " ") + unknown
                    + " for " + what + "; accepted: " + new TreeSet<>(accepted));
        }
    }

    @Override
    public String toString() {
        return source;
    }
}
