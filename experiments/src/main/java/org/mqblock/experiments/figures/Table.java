package org.mqblock.experiments.figures;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.Predicate;
import org.mqblock.experiments.JsonOut;

/**
 * A figure's measurements: named columns, one row per measured point, written as CSV (for
 * spreadsheets and plotting tools) and as JSON (with the figure's metadata). Values are strings or
 * numbers.
 */
public final class Table {

    private final List<String> columns;
    private final List<Object[]> rows = new ArrayList<>();

    public Table(String... columns) {
        this.columns = List.of(columns);
    }

    public List<String> columns() {
        return columns;
    }

    public List<Object[]> rows() {
        return rows;
    }

    /** Adds a row; one value per column, in order. */
    public void add(Object... values) {
        if (values.length != columns.size()) {
            throw new IllegalArgumentException("row has " + values.length + " values for " + columns.size()
                    + " columns " + columns + ": " + Arrays.toString(values));
        }
        for (Object v : values) {
            if (!(v instanceof String || v instanceof Number || v instanceof Boolean)) {
                throw new IllegalArgumentException("a cell is a string, number or boolean, got " + v);
            }
        }
        rows.add(values.clone());
    }

    public int index(String column) {
        int i = columns.indexOf(column);
        if (i < 0) {
            throw new IllegalArgumentException("no column '" + column + "' in " + columns);
        }
        return i;
    }

    /** The rows where {@code column} equals {@code value} (compared as text). */
    public List<Object[]> where(String column, Object value) {
        int i = index(column);
        return select(r -> String.valueOf(r[i]).equals(String.valueOf(value)));
    }

    public List<Object[]> select(Predicate<Object[]> p) {
        return rows.stream().filter(p).toList();
    }

    /**
     * The mean of {@code column} over the rows where each named column equals its value (as text),
     * given as pairs {@code name, value, ...}; NaN when no row matches. For claims, which read
     * columns by name.
     */
    public double mean(String column, Object... match) {
        return java.util.Arrays.stream(values(column, match)).average().orElse(Double.NaN);
    }

    /** The median of {@code column} over the matching rows (pairs as in {@link #mean}); NaN when none match. */
    public double median(String column, Object... match) {
        return median(values(column, match));
    }

    /** The values of {@code column} over the matching rows (pairs as in {@link #mean}), in row order. */
    public double[] values(String column, Object... match) {
        if (match.length % 2 != 0) {
            throw new IllegalArgumentException("match takes column, value pairs");
        }
        int c = index(column);
        int[] keys = new int[match.length / 2];
        for (int k = 0; k < keys.length; k++) {
            keys[k] = index((String) match[2 * k]);
        }
        return select(r -> {
            for (int k = 0; k < keys.length; k++) {
                if (!String.valueOf(r[keys[k]]).equals(String.valueOf(match[2 * k + 1]))) {
                    return false;
                }
            }
            return true;
        }).stream().mapToDouble(r -> number(r, c)).toArray();
    }

    /** The median of {@code v} (the mean of the middle two for an even count); NaN for none. */
    public static double median(double[] v) {
        if (v.length == 0) {
            return Double.NaN;
        }
        double[] s = v.clone();
        java.util.Arrays.sort(s);
        int m = s.length / 2;
        return s.length % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2;
    }

    /** {@code median [min-max]} of {@code v}, for findings. */
    public static String spread(double[] v, String format) {
        if (v.length == 0) {
            return "n/a";
        }
        double min = java.util.Arrays.stream(v).min().getAsDouble();
        double max = java.util.Arrays.stream(v).max().getAsDouble();
        return String.format(java.util.Locale.ROOT, format + " [" + format + "-" + format + "]", median(v), min, max);
    }

    /** The distinct values of {@code column}, in the order they first appear. */
    public List<Object> distinct(String column) {
        int c = index(column);
        return rows.stream().map(r -> r[c]).distinct().toList();
    }

    public static double number(Object[] row, int i) {
        return ((Number) row[i]).doubleValue();
    }

    public void writeCsv(Path file) throws IOException {
        StringBuilder b = new StringBuilder(String.join(",", columns)).append('\n');
        for (Object[] r : rows) {
            for (int i = 0; i < r.length; i++) {
                if (i > 0) {
                    b.append(',');
                }
                b.append(cell(r[i]));
            }
            b.append('\n');
        }
        Files.writeString(file, b);
    }

    /** The rows as a JSON array of objects keyed by column. */
    public void writeJson(JsonOut j) {
        j.beginArray();
        for (Object[] r : rows) {
            j.beginObject();
            for (int i = 0; i < r.length; i++) {
                j.name(columns.get(i));
                if (r[i] instanceof String s) {
                    j.value(s);
                } else if (r[i] instanceof Boolean bo) {
                    j.value(bo);
                } else if (r[i] instanceof Integer || r[i] instanceof Long) {
                    j.value(((Number) r[i]).longValue());
                } else {
                    j.value(((Number) r[i]).doubleValue());
                }
            }
            j.endObject();
        }
        j.endArray();
    }

    private static String cell(Object v) {
        if (v instanceof Double || v instanceof Float) {
            double d = ((Number) v).doubleValue();
            return d == Math.rint(d) && Math.abs(d) < 1e15 ? String.valueOf((long) d) : String.format(Locale.ROOT, "%.4f", d);
        }
        String s = String.valueOf(v);
        return s.contains(",") || s.contains("\"") ? '"' + s.replace("\"", "\"\"") + '"' : s;
    }
}
