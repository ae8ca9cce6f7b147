package org.mqblock.experiments.figures;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.knowm.xchart.internal.chartpart.AxisTickCalculator;
import org.knowm.xchart.internal.chartpart.Chart;

/**
 * Renders known points and checks that every tick label sits where a data point of that value
 * lands, on linear and on logarithmic axes: the labels of F2's log axes once said 20 where 2 was
 * drawn. XChart keeps its tick layout internal, so the test reads it by reflection after a paint.
 */
class AxisPlacementTest {

    private static final List<Object> X = List.of(1, 2, 4, 8, 16, 32, 64, 128);
    private static final List<Double> Y = List.of(10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 2000.0);

    @Test
    void logAxesLabelTheirTicksWhereTheDataOfThatValueIsDrawn() throws Exception {
        Panel p = Panel.lines("log-log", "iodepth", "latency (us)").withLogX().withLogY().series("mq", X, Y);
        checkLabelsMatchData(p, "x");
        checkLabelsMatchData(p, "y");
    }

    @Test
    void linearAxesToo() throws Exception {
        Panel p = Panel.lines("linear", "iodepth", "latency (us)").series("mq", X, Y);
        checkLabelsMatchData(p, "x");
        checkLabelsMatchData(p, "y");
    }

    @Test
    void linearValueAxesStartAtZeroAndHollowPointsGetAHiddenRingSeries() throws Exception {
        Column<Integer> n = Column.integer("n");
        Column<Double> iops = Column.real("iops");
        Column<Boolean> over = Column.flag("oversubscribed");
        Table t = new Table(Columns.of(n, iops, over));
        t.row().set(n, 1).set(iops, 500.0).set(over, false).add();
        t.row().set(n, 2).set(iops, 900.0).set(over, false).add();
        t.row().set(n, 4).set(iops, 1000.0).set(over, true).add();
        Panel p = Panel.lines("f", "vCPUs", "IOPS").series("mq", t.rows(), n, iops, over);
        assertEquals(List.of(false, false, true), p.series().get(0).hollow());
        org.knowm.xchart.XYChart c = (org.knowm.xchart.XYChart) Renderer.chart(p);
        assertEquals(0.0, c.getStyler().getYAxisMin());
        org.knowm.xchart.XYSeries ring = c.getSeriesMap().get("mq (oversubscribed)");
        assertEquals(List.of(4.0), java.util.Arrays.stream(ring.getXData()).boxed().toList());
        assertEquals(false, ring.isShowInLegend());
        assertEquals(c.getSeriesMap().get("mq").getMarkerColor(), ring.getMarkerColor());
    }

    /**
     * On a log axis the spread of repeated points is drawn as a min-max whisker per point (a
     * symmetric bar could reach below zero there), in its series' colour and out of the legend;
     * the next series keeps its own colour.
     */
    @Test
    void logAxesDrawEachPointsMinToMaxAndKeepSeriesColours() {
        Column<String> mode = Column.text("mode");
        Column<Integer> qd = Column.integer("iodepth");
        Column<Double> lat = Column.real("p99_us");
        Table t = new Table(Columns.of(mode, qd, lat));
        for (String m : List.of("mq", "sq")) {
            for (int d : List.of(1, 32)) {
                for (double v : List.of(10.0, 40.0, 20.0)) {
                    t.row().set(mode, m).set(qd, d).set(lat, v * d * (m.equals("mq") ? 1 : 2)).add();
                }
            }
        }
        Panel p = Panel.lines("p99", "iodepth", "us").withLogX().withLogY();
        p.summary("mq", t.where(mode.is("mq")), qd, lat, null).summary("sq", t.where(mode.is("sq")), qd, lat, null);
        org.knowm.xchart.XYChart c = (org.knowm.xchart.XYChart) Renderer.chart(p);
        org.knowm.xchart.XYSeries whisker = c.getSeriesMap().get("mq range 1");
        assertEquals(List.of(32.0, 32.0), java.util.Arrays.stream(whisker.getXData()).boxed().toList());
        assertEquals(List.of(320.0, 1280.0), java.util.Arrays.stream(whisker.getYData()).boxed().toList());
        assertEquals(false, whisker.isShowInLegend());
        assertEquals(c.getSeriesMap().get("mq").getLineColor(), whisker.getLineColor());
        java.awt.Color[] palette = c.getStyler().getSeriesColors();
        assertEquals(palette[1], c.getSeriesMap().get("sq").getLineColor(), "whiskers take no colour of their own");
        assertEquals(List.of(20.0, 640.0), java.util.Arrays.stream(c.getSeriesMap().get("mq").getYData()).boxed().toList(),
                "the point is the median");
    }

    /** Panels that draw the same series share one legend, the first panel's. */
    @Test
    void panelsWithTheSameSeriesShareOneLegend() {
        Panel a = Panel.lines("a", "x", "y").series("mq", X, Y).series("sq", X, Y);
        Panel b = Panel.lines("b", "x", "y").series("mq", X, Y).series("sq", X, Y);
        Panel c = Panel.lines("c", "x", "y").series("mq", X, Y);
        assertTrue(Renderer.sameSeries(List.of(a, b)));
        assertEquals(false, Renderer.sameSeries(List.of(a, c)), "different series: each keeps its legend");
        assertEquals(false, Renderer.sameSeries(List.of(a)), "one panel: its own legend");
    }

    /** For each tick with a numeric label v: its position minus the screen position of data value v is the same for all. */
    private static void checkLabelsMatchData(Panel p, String axis) throws Exception {
        Chart<?, ?> c = Renderer.chart(p);
        BufferedImage img = new BufferedImage(Renderer.PANEL_W, Renderer.PANEL_H, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        c.paint(g, Renderer.PANEL_W, Renderer.PANEL_H);
        g.dispose();
        AxisTickCalculator ticks = tickCalculator(c, axis);
        List<Double> offsets = new ArrayList<>();
        List<String> labels = new ArrayList<>();
        for (int i = 0; i < ticks.getTickLabels().size(); i++) {
            String label = ticks.getTickLabels().get(i);
            if (label == null || label.isBlank()) {
                continue;
            }
            double v = value(label);
            double tick = ticks.getTickLocations().get(i);
            double screen = axis.equals("x") ? c.getScreenXFromChart(v) : c.getScreenYFromChart(v);
            offsets.add(axis.equals("x") ? screen - tick : screen + tick); // y ticks count up from the bottom
            labels.add(label);
        }
        assertTrue(labels.size() >= 2, p.title() + " " + axis + ": at least two labelled ticks, got " + labels);
        double first = offsets.get(0);
        for (int i = 1; i < offsets.size(); i++) {
            assertEquals(first, offsets.get(i), 1.5, p.title() + " " + axis + " axis: label '" + labels.get(i)
                    + "' is not where its value is drawn (labels " + labels + ")");
        }
    }

    private static double value(String label) {
        String s = label.replace(",", "").trim();
        double scale = 1;
        if (s.endsWith("k")) {
            scale = 1e3;
            s = s.substring(0, s.length() - 1);
        } else if (s.endsWith("M")) {
            scale = 1e6;
            s = s.substring(0, s.length() - 1);
        }
        return Double.parseDouble(s) * scale;
    }

    private static AxisTickCalculator tickCalculator(Chart<?, ?> c, String axis) throws Exception {
        Method m = Chart.class.getDeclaredMethod(axis.equals("x") ? "getXAxis" : "getYAxis");
        m.setAccessible(true);
        Object a = m.invoke(c);
        Field f = a.getClass().getDeclaredField("axisTickCalculator");
        f.setAccessible(true);
        return (AxisTickCalculator) f.get(a);
    }
}
