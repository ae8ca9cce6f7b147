package org.mqblock.experiments.figures;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One chart of a figure: its axes and its series. A figure is one or more panels side by side.
 *
 * @param categorical x values are labels (a bar chart) rather than numbers (a line chart)
 */
public record Panel(String title, String xLabel, String yLabel, boolean logX, boolean logY, boolean categorical,
                    List<Series> series) {

    /**
     * One line (or bar group): x as numbers, or as labels in a categorical panel; {@code error}
     * the half-width of each point's error bar (null: none); {@code hollow} which points are drawn
     * hollow, e.g. oversubscribed ones (null: none).
     */
    /**
     * One line or bar group: {@code error} the symmetric bar's half-width (null: none); {@code low}
     * and {@code high} the range it covers, for axes that draw the range itself (log axes, where a
     * symmetric bar could reach below zero).
     */
    public record Series(String name, List<Object> x, List<Double> y, List<Double> error, List<Boolean> hollow,
                         List<Double> low, List<Double> high) {
        Series(String name, List<Object> x, List<Double> y, List<Double> error, List<Boolean> hollow) {
            this(name, x, y, error, hollow, null, null);
        }
    }

    public static Panel lines(String title, String xLabel, String yLabel) {
        return new Panel(title, xLabel, yLabel, false, false, false, new ArrayList<>());
    }

    public static Panel bars(String title, String xLabel, String yLabel) {
        return new Panel(title, xLabel, yLabel, false, false, true, new ArrayList<>());
    }

    public Panel withLogX() {
        return new Panel(title, xLabel, yLabel, true, logY, categorical, series);
    }

    public Panel withLogY() {
        return new Panel(title, xLabel, yLabel, logX, true, categorical, series);
    }

    /** Adds a series from {@code rows}: x from {@code x}, y from {@code y}. */
    public Panel series(String name, List<Table.Row> rows, Column<?> x, Column<? extends Number> y) {
        return series(name, rows, x, y, null);
    }

    /**
     * {@link #series(String, List, Column, Column)} with the points whose {@code hollow} flag is
     * true drawn hollow (the machine could not run them honestly: oversubscribed); null: none.
     */
    public Panel series(String name, List<Table.Row> rows, Column<?> x, Column<? extends Number> y,
                        Column<Boolean> hollow) {
        List<Object> xs = new ArrayList<>();
        List<Double> ys = new ArrayList<>();
        List<Boolean> hs = new ArrayList<>();
        for (Table.Row r : rows) {
            xs.add(categorical ? String.valueOf(r.get(x)) : r.get(x));
            ys.add(r.num(y));
            hs.add(hollow != null && r.get(hollow));
        }
        series.add(new Series(name, xs, ys, null, hollow == null ? null : hs));
        return this;
    }

    /**
     * A series of repeated measurements: for each distinct {@code x} value among {@code rows} (in
     * order), the median of {@code y} with an error bar reaching the farther of the minimum and
     * maximum; hollow where any repetition's {@code hollow} flag is true (null: none).
     */
    public Panel summary(String name, List<Table.Row> rows, Column<?> x, Column<? extends Number> y,
                         Column<Boolean> hollow) {
        Map<Object, List<Table.Row>> byX = new LinkedHashMap<>();
        for (Table.Row r : rows) {
            byX.computeIfAbsent(r.get(x), k -> new ArrayList<>()).add(r);
        }
        List<Object> xs = new ArrayList<>();
        List<Double> ys = new ArrayList<>();
        List<Double> error = new ArrayList<>();
        List<Double> low = new ArrayList<>();
        List<Double> high = new ArrayList<>();
        List<Boolean> hs = new ArrayList<>();
        for (var e : byX.entrySet()) {
            double[] v = e.getValue().stream().mapToDouble(r -> r.num(y)).toArray();
            double med = Table.median(v);
            xs.add(categorical ? String.valueOf(e.getKey()) : e.getKey());
            ys.add(med);
            error.add(halfRange(v, med));
            low.add(Arrays.stream(v).min().orElse(med));
            high.add(Arrays.stream(v).max().orElse(med));
            hs.add(hollow != null && e.getValue().stream().anyMatch(r -> r.get(hollow)));
        }
        series.add(new Series(name, xs, ys, error, hollow == null ? null : hs, low, high));
        return this;
    }

    /** The error bar's half-width for values {@code v} around {@code median}: the farther of min and max. */
    static double halfRange(double[] v, double median) {
        double min = Arrays.stream(v).min().orElse(median);
        double max = Arrays.stream(v).max().orElse(median);
        return Math.max(median - min, max - median);
    }

    public Panel series(String name, List<Object> x, List<Double> y) {
        series.add(new Series(name, x, y, null, null));
        return this;
    }

    /** A series whose points carry error bars of half-width {@code error}. */
    public Panel series(String name, List<Object> x, List<Double> y, List<Double> error) {
        series.add(new Series(name, x, y, error, null));
        return this;
    }
}
