package org.mqblock.experiments.figures;

import java.util.ArrayList;
import java.util.List;

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
    public record Series(String name, List<Object> x, List<Double> y, List<Double> error, List<Boolean> hollow) {}

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

    /** Adds a series from rows of {@code t}: x from {@code xColumn}, y from {@code yColumn}. */
    public Panel series(String name, Table t, List<Object[]> rows, String xColumn, String yColumn) {
        int xi = t.index(xColumn);
        int yi = t.index(yColumn);
        List<Object> x = new ArrayList<>();
        List<Double> y = new ArrayList<>();
        for (Object[] r : rows) {
            x.add(categorical ? String.valueOf(r[xi]) : r[xi]);
            y.add(Table.number(r, yi));
        }
        series.add(new Series(name, x, y, null, null));
        return this;
    }

    /**
     * {@link #series(String, Table, List, String, String)} with the points whose boolean {@code
     * hollowColumn} is true drawn hollow (the machine could not run them honestly: oversubscribed).
     */
    public Panel series(String name, Table t, List<Object[]> rows, String xColumn, String yColumn, String hollowColumn) {
        series(name, t, rows, xColumn, yColumn);
        int h = t.index(hollowColumn);
        List<Boolean> hollow = rows.stream().map(r -> Boolean.TRUE.equals(r[h])).toList();
        Series s = series.remove(series.size() - 1);
        series.add(new Series(s.name(), s.x(), s.y(), null, hollow));
        return this;
    }

    /**
     * A series of repeated measurements: for each distinct {@code xColumn} value among {@code
     * rows} (in order), the median of {@code yColumn} with an error bar reaching the farther of
     * the minimum and maximum; hollow where any repetition's {@code hollowColumn} is true (null:
     * none).
     */
    public Panel summary(String name, Table t, List<Object[]> rows, String xColumn, String yColumn, String hollowColumn) {
        int xi = t.index(xColumn);
        int yi = t.index(yColumn);
        int hi = hollowColumn == null ? -1 : t.index(hollowColumn);
        java.util.Map<Object, List<Object[]>> byX = new java.util.LinkedHashMap<>();
        for (Object[] r : rows) {
            byX.computeIfAbsent(r[xi], k -> new ArrayList<>()).add(r);
        }
        List<Object> x = new ArrayList<>();
        List<Double> y = new ArrayList<>();
        List<Double> error = new ArrayList<>();
        List<Boolean> hollow = new ArrayList<>();
        for (var e : byX.entrySet()) {
            double[] v = e.getValue().stream().mapToDouble(r -> Table.number(r, yi)).toArray();
            double med = Table.median(v);
            double min = java.util.Arrays.stream(v).min().getAsDouble();
            double max = java.util.Arrays.stream(v).max().getAsDouble();
            x.add(categorical ? String.valueOf(e.getKey()) : e.getKey());
            y.add(med);
            error.add(Math.max(med - min, max - med));
            hollow.add(hi >= 0 && e.getValue().stream().anyMatch(r -> Boolean.TRUE.equals(r[hi])));
        }
        series.add(new Series(name, x, y, error, hi >= 0 ? hollow : null));
        return this;
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
