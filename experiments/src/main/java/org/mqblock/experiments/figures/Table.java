package org.mqblock.experiments.figures;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.mqblock.experiments.JsonOut;

/**
 * A figure's measurements: the figure's {@link Columns}, one {@link Row} per measured point,
 * written as CSV (for spreadsheets and plotting tools) and as JSON (with the figure's metadata).
 * Rows are built and read by column, never by position.
 *
 * <p>Not threadsafe: a sweep fills its table on one thread.
 */
public final class Table {

    private final Columns columns;
    private final List<Row> rows = new ArrayList<>();

    public Table(Columns columns) {
        this.columns = columns;
    }

    public Columns columns() {
        return columns;
    }

    public List<Row> rows() {
        return List.copyOf(rows);
    }

    /** A new row, to be filled column by column and {@link RowBuilder#add}ed. */
    public RowBuilder row() {
        return new RowBuilder();
    }

    /** A new row with the columns of grid point {@code p} already set to its values. */
    public RowBuilder row(Grid.Point p) {
        RowBuilder b = new RowBuilder();
        p.fill(b);
        return b;
    }

    /** The rows matching every condition, in row order. */
    public List<Row> where(Column.Match... match) {
        int[] keys = new int[match.length];
        for (int k = 0; k < match.length; k++) {
            keys[k] = columns.index(match[k].column());
        }
        List<Row> out = new ArrayList<>();
        for (Row r : rows) {
            boolean all = true;
            for (int k = 0; k < keys.length && all; k++) {
                all = r.cells[keys[k]].equals(match[k].value());
            }
            if (all) {
                out.add(r);
            }
        }
        return out;
    }

    /** The values of numeric {@code column} over the rows matching every condition, in row order. */
    public double[] values(Column<? extends Number> column, Column.Match... match) {
        return where(match).stream().mapToDouble(r -> r.num(column)).toArray();
    }

    /** The mean of {@code column} over the matching rows; NaN when none match. */
    public double mean(Column<? extends Number> column, Column.Match... match) {
        return Arrays.stream(values(column, match)).average().orElse(Double.NaN);
    }

    /** The median of {@code column} over the matching rows; NaN when none match. */
    public double median(Column<? extends Number> column, Column.Match... match) {
        return median(values(column, match));
    }

    /** The distinct values of {@code column}, in the order they first appear. */
    public <T> List<T> distinct(Column<T> column) {
        int c = columns.index(column);
        return rows.stream().map(r -> column.type().cast(r.cells[c])).distinct().toList();
    }

    /** The median of {@code v} (the mean of the middle two for an even count); NaN for none. */
    public static double median(double[] v) {
        if (v.length == 0) {
            return Double.NaN;
        }
        double[] s = v.clone();
        Arrays.sort(s);
        int m = s.length / 2;
        return s.length % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2;
    }

    /** {@code median [min-max]} of {@code v}, for findings. */
    public static String spread(double[] v, String format) {
        if (v.length == 0) {
            return "n/a";
        }
        double min = Arrays.stream(v).min().getAsDouble();
        double max = Arrays.stream(v).max().getAsDouble();
        return String.format(Locale.ROOT, format + " [" + format + "-" + format + "]", median(v), min, max);
    }

    public void writeCsv(Path file) throws IOException {
        Files.writeString(file, csv());
    }

    /** The CSV text: the column names, then one line per row. */
    public String csv() {
        StringBuilder b = new StringBuilder(String.join(",", columns.names())).append('\n');
        for (Row r : rows) {
            for (int i = 0; i < r.cells.length; i++) {
                if (i > 0) {
                    b.append(',');
                }
                b.append(cell(r.cells[i]));
            }
            b.append('\n');
        }
        return b.toString();
    }

    /** The rows as a JSON array of objects keyed by column (NaN as null: JSON has none). */
    public void writeJson(JsonOut j) {
        j.beginArray();
        for (Row r : rows) {
            j.beginObject();
            for (int i = 0; i < r.cells.length; i++) {
                j.name(columns.get(i).name());
                Object v = r.cells[i];
                if (v instanceof String s) {
                    j.value(s);
                } else if (v instanceof Boolean bo) {
                    j.value(bo);
                } else if (v instanceof Double d) {
                    j.value(d.doubleValue());
                } else {
                    j.value(((Number) v).longValue());
                }
            }
            j.endObject();
        }
        j.endArray();
    }

    private static String cell(Object v) {
        if (v instanceof Double d) {
            if (!Double.isFinite(d)) {
                return "";
            }
            return d == Math.rint(d) && Math.abs(d) < 1e15 ? String.valueOf(d.longValue()) : String.format(Locale.ROOT, "%.4f", d);
        }
        String s = String.valueOf(v);
        return s.contains(",") || s.contains("\"") ? '"' + s.replace("\"", "\"\"") + '"' : s;
    }

    /** One measured point: its cells read by column. Immutable. */
    public final class Row {
        private final Object[] cells;

        private Row(Object[] cells) {
            this.cells = cells;
        }

        public <T> T get(Column<T> c) {
            return c.type().cast(cells[columns.index(c)]);
        }

        /** A numeric column as a double. */
        public double num(Column<? extends Number> c) {
            return get(c).doubleValue();
        }

        /** The numeric column named {@code name} as a double (for readers that have no constant, e.g. tests). */
        public double num(String name) {
            Object v = cells[columns.index(columns.named(name))];
            if (!(v instanceof Number n)) {
                throw new IllegalArgumentException("column '" + name + "' is not numeric: " + v);
            }
            return n.doubleValue();
        }

        /** The cell of the column named {@code name}, as text. */
        public String text(String name) {
            return String.valueOf(cells[columns.index(columns.named(name))]);
        }

        @Override
        public String toString() {
            return Arrays.toString(cells);
        }
    }

    /** A row being filled: every column set exactly once, with a value of its type, before {@link #add}. */
    public final class RowBuilder {
        private final Object[] cells = new Object[columns.size()];

        private RowBuilder() {}

        public <T> RowBuilder set(Column<T> c, T value) {
            int i = columns.index(c);
            if (cells[i] != null) {
                throw new IllegalArgumentException("column '" + c.name() + "' set twice");
            }
            cells[i] = c.cast(value);
            return this;
        }

        /** Appends the row to the table, or says which columns are unset. */
        public Row add() {
            List<String> unset = new ArrayList<>();
            for (int i = 0; i < cells.length; i++) {
                if (cells[i] == null) {
                    unset.add(columns.get(i).name());
                }
            }
            if (!unset.isEmpty()) {
                throw new IllegalArgumentException("row leaves columns " + unset + " unset: " + Arrays.toString(cells));
            }
            Row r = new Row(cells.clone());
            rows.add(r);
            return r;
        }
    }
}
