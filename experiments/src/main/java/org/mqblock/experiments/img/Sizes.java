package org.mqblock.experiments.img;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.Locale;

/**
 * Sizes the way qemu-img reads and writes them: {@code 1G}, {@code 512M}, {@code 1.5G} (powers of
 * 1024, suffixes {@code B K M G T P E} in either case, bytes without one) and {@code 1 GiB},
 * {@code 196 KiB} (three significant digits, QEMU's {@code size_to_str}).
 */
public final class Sizes {

    private static final String SUFFIXES = "BKMGTPE";
    private static final String[] UNITS = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};

    private Sizes() {}

    /**
     * Parses a size. A fraction needs a suffix larger than bytes ({@code 1.5G}; {@code 1.5} is
     * refused, as qemu-img refuses it).
     *
     * @throws IllegalArgumentException saying which suffixes exist
     */
    public static long parse(String s) {
        String v = s.trim();
        int shift = 0;
        if (!v.isEmpty()) {
            int unit = SUFFIXES.indexOf(Character.toUpperCase(v.charAt(v.length() - 1)));
            if (unit >= 0) {
                shift = 10 * unit;
                v = v.substring(0, v.length() - 1);
            }
        }
        try {
            BigDecimal n = new BigDecimal(v);
            if (n.signum() < 0 || v.startsWith("+") || (shift == 0 && n.scale() > 0 && n.stripTrailingZeros().scale() > 0)) {
                throw new NumberFormatException();
            }
            BigDecimal bytes = n.multiply(BigDecimal.valueOf(2).pow(shift));
            if (bytes.compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) > 0 || bytes.stripTrailingZeros().scale() > 0) {
                throw new NumberFormatException();
            }
            return bytes.longValueExact();
        } catch (NumberFormatException | ArithmeticException e) {
            throw new IllegalArgumentException("Invalid image size specified: '" + s
                    + "'. You may use k, M, G, T, P or E suffixes for kilobytes, megabytes, gigabytes, terabytes,"
                    + " petabytes and exabytes.");
        }
    }

    /** {@code 1073741824} as {@code 1 GiB}, {@code 200704} as {@code 196 KiB}, {@code 512} as {@code 512 B}. */
    public static String human(long bytes) {
        int i = 0;
        // The unit whose 1000-fold is above the value, so the number stays below 1000 (size_to_str).
        while (i < UNITS.length - 1 && bytes >= 1000L << (10 * i)) {
            i++;
        }
        BigDecimal v = BigDecimal.valueOf(bytes).divide(BigDecimal.valueOf(2).pow(10 * i));
        String n = v.round(new MathContext(3, RoundingMode.HALF_EVEN)).stripTrailingZeros().toPlainString();
        return n + " " + UNITS[i] + "B";
    }

    /** {@code 1073741824} as {@code 1 GiB (1073741824 bytes)}, the "virtual size" line of {@code info}. */
    public static String humanWithBytes(long bytes) {
        return String.format(Locale.ROOT, "%s (%d bytes)", human(bytes), bytes);
    }
}
