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

    /** One line (or bar group): x as numbers, or as labels in a categorical panel. */
    public record Series(String name, List<Object> x, List<Double> y, List<Double> error) {}

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
        series.add(new Series(name, x, y, null));
        return this;
    }

    public Panel series(String name, List<Object> x, List<Double> y) {
        series.add(new Series(name, x, y, null));
        return this;
    }

    /** A series with error bars: {@code error} is each point's half-height (drawn as y +- error). */
    public Panel series(String name, List<Object> x, List<Double> y, List<Double> error) {
        series.add(new Series(name, x, y, error));
        return this;
    }
}
