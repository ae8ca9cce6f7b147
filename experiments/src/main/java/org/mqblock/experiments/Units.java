package org.mqblock.experiments;

import java.util.Locale;

/** fio's ways of writing sizes ({@code 4k}, {@code 1g}) and times ({@code 10}, {@code 500ms}, {@code 2m}). */
public final class Units {

    private Units() {}

    /** Bytes from {@code 4096}, {@code 4k}, {@code 4KiB}, {@code 1m}, {@code 2g}, {@code 1t} (powers of 1024). */
    public static long bytes(String option, String s) {
        String v = s.trim().toLowerCase(Locale.ROOT).replace("ib", "").replace("b", "");
        long mul = 1;
        if (!v.isEmpty()) {
            switch (v.charAt(v.length() - 1)) {
                case 'k' -> mul = 1L << 10;
                case 'm' -> mul = 1L << 20;
                case 'g' -> mul = 1L << 30;
                case 't' -> mul = 1L << 40;
                default -> mul = 1;
            }
        }
        String digits = mul == 1 ? v : v.substring(0, v.length() - 1);
        try {
            long n = Long.parseLong(digits);
            if (n < 0 || n > Long.MAX_VALUE / mul) {
                throw new NumberFormatException();
            }
            return n * mul;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(option + ": '" + s + "' is not a size (e.g. 4096, 4k, 1m, 2g)");
        }
    }

    /** Milliseconds from seconds ({@code 10}, {@code 10s}), {@code 500ms}, {@code 2m} or {@code 1h}. */
    public static long millis(String option, String s) {
        String v = s.trim().toLowerCase(Locale.ROOT);
        try {
            if (v.endsWith("ms")) {
                return Long.parseLong(v.substring(0, v.length() - 2));
            }
            if (v.endsWith("s")) {
                return Math.round(Double.parseDouble(v.substring(0, v.length() - 1)) * 1000);
            }
            if (v.endsWith("m")) {
                return Math.round(Double.parseDouble(v.substring(0, v.length() - 1)) * 60_000);
            }
            if (v.endsWith("h")) {
                return Math.round(Double.parseDouble(v.substring(0, v.length() - 1)) * 3_600_000);
            }
            return Math.round(Double.parseDouble(v) * 1000);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(option + ": '" + s + "' is not a time (e.g. 10, 10s, 500ms, 2m)");
        }
    }

    /** {@code on}/{@code off} (also true/false, 1/0). */
    public static boolean onOff(String option, String s) {
        return switch (s.trim().toLowerCase(Locale.ROOT)) {
            case "on", "true", "1", "yes" -> true;
            case "off", "false", "0", "no" -> false;
            default -> throw new IllegalArgumentException(option + ": '" + s + "' is not one of on, off");
        };
    }

    /** Bytes the way fio's options write them: 4096 as {@code 4k}, 8 MiB as {@code 8m}, 1000 as {@code 1000}. */
    public static String fioSize(long bytes) {
        String[] suffix = {"", "k", "m", "g", "t"};
        int i = 0;
        long v = bytes;
        while (v != 0 && v % 1024 == 0 && i < suffix.length - 1) {
            v /= 1024;
            i++;
        }
        return v + suffix[i];
    }

    /** Milliseconds the way fio's time options read them: whole seconds bare ({@code 5}), else {@code 500ms}. */
    public static String fioTime(long ms) {
        return ms % 1000 == 0 ? String.valueOf(ms / 1000) : ms + "ms";
    }

    /** 1234567 as {@code 1235k}, fio style. */
    public static String count(double n) {
        if (n >= 10e6) {
            return String.format(Locale.ROOT, "%.0fM", n / 1e6);
        }
        if (n >= 10e3) {
            return String.format(Locale.ROOT, "%.0fk", n / 1e3);
        }
        return String.format(Locale.ROOT, "%.0f", n);
    }
}
