package org.mqblock.experiments.figures;

import de.erichseifert.vectorgraphics2d.VectorGraphics2D;
import de.erichseifert.vectorgraphics2d.pdf.PDFProcessor;
import de.erichseifert.vectorgraphics2d.util.PageSize;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.Ellipse2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.Marker;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Draws a figure's panels side by side (three to a row), once into a PNG and once, as vectors,
 * into a PDF for the paper. Notes belong in the caption (the findings the paper prints under the
 * figure), not in the image; the PNG alone gets them underneath, for readers of results/. Sizes
 * are for the paper: three panels across a text width of about 7 inches make 1 pixel about 1/180
 * inch, so text is at least 16 px (7 pt) there. Linear value axes start at zero, so ratios read
 * true; points marked hollow (oversubscribed) are drawn as rings; error bars where a series has
 * them (on linear value axes: symmetric bars could reach below zero on a log axis). Headless: needs no display.
 */
public final class Renderer {

    static final int PANEL_W = 420;
    static final int PANEL_H = 330;
    static final int PER_ROW = 3;
    static final int NOTE_LINE_H = 18;
    static final int TEXT_PX = 16;
    static final int TITLE_PX = 18;

    private Renderer() {}

    public static void render(List<Panel> panels, List<String> notes, Path png, Path pdf) throws IOException {
        System.setProperty("java.awt.headless", "true");
        if (panels.isEmpty()) { // nothing was measured here (a missing peer): an empty panel, the notes say why
            panels = List.of(Panel.lines("nothing measured on this machine (see the notes)", "", ""));
        }
        int cols = Math.min(PER_ROW, panels.size());
        int rows = (panels.size() + PER_ROW - 1) / PER_ROW;
        List<String> lines = wrap(notes, cols * PANEL_W / 8);
        int w = cols * PANEL_W;
        int plots = rows * PANEL_H;
        int h = plots + 12 + lines.size() * NOTE_LINE_H;

        BufferedImage image = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        paint(g, panels, lines, w, h);
        g.dispose();
        Files.createDirectories(png.getParent());
        ImageIO.write(image, "png", png.toFile());

        VectorGraphics2D vg = new VectorGraphics2D();
        paint(vg, panels, List.of(), w, plots); // the paper's caption carries the notes
        try (OutputStream out = Files.newOutputStream(pdf)) {
            new PDFProcessor(true).getDocument(vg.getCommands(), new PageSize(w, plots)).writeTo(out);
        }
    }

    private static void paint(Graphics2D g, List<Panel> panels, List<String> lines, int w, int h) {
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        boolean oneLegend = sameSeries(panels); // then the first panel's legend serves all: the others keep their height
        for (int i = 0; i < panels.size(); i++) {
            Graphics2D pg = (Graphics2D) g.create((i % PER_ROW) * PANEL_W, (i / PER_ROW) * PANEL_H, PANEL_W, PANEL_H);
            Chart<?, ?> c = chart(panels.get(i));
            if (oneLegend && i > 0) {
                c.getStyler().setLegendVisible(false);
            }
            c.paint(pg, PANEL_W, PANEL_H);
            pg.dispose();
        }
        g.setColor(Color.DARK_GRAY);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 14));
        int y = ((panels.size() + PER_ROW - 1) / PER_ROW) * PANEL_H + NOTE_LINE_H;
        for (String line : lines) {
            g.drawString(line, 8, y);
            y += NOTE_LINE_H;
        }
    }

    /** Whether several panels draw the same series, by name and in order (so the same colours). */
    static boolean sameSeries(List<Panel> panels) {
        if (panels.size() < 2) {
            return false;
        }
        List<String> first = panels.get(0).series().stream().map(Panel.Series::name).toList();
        return first.size() > 1 && panels.stream().allMatch(p -> p.series().stream().map(Panel.Series::name).toList().equals(first));
    }

    static Chart<?, ?> chart(Panel p) {
        if (p.categorical()) {
            CategoryChart c = new CategoryChartBuilder().width(PANEL_W).height(PANEL_H).title(p.title())
                    .xAxisTitle(p.xLabel()).yAxisTitle(p.yLabel()).build();
            style(c.getStyler(), p);
            c.getStyler().setYAxisLogarithmic(p.logY());
            if (!p.logY()) {
                c.getStyler().setyAxisTickLabelsFormattingFunction(Renderer::compact);
                zeroBased(c.getStyler(), p);
            }
            c.getStyler().setLabelsVisible(false);
            for (Panel.Series s : p.series()) {
                List<String> x = s.x().stream().map(String::valueOf).toList();
                if (s.error() != null) {
                    c.addSeries(s.name(), x, s.y(), s.error());
                } else {
                    c.addSeries(s.name(), x, s.y());
                }
            }
            c.getStyler().setLegendVisible(p.series().size() > 1); // one series: the axis says it all
            if (p.series().stream().mapToInt(s -> s.x().size()).max().orElse(0) > 4) {
                c.getStyler().setXAxisLabelRotation(30); // many categories: long names would collide
            }
            return c;
        }
        XYChart c = new XYChartBuilder().width(PANEL_W).height(PANEL_H).title(p.title())
                .xAxisTitle(p.xLabel()).yAxisTitle(p.yLabel()).build();
        style(c.getStyler(), p);
        // A tick-label formatting function makes XChart place ticks on a linear grid even on a
        // logarithmic axis, so labels and data disagree (F2 drew 2 where 19 was labelled): log
        // axes keep XChart's own decade ticks and labels.
        c.getStyler().setXAxisLogarithmic(p.logX());
        c.getStyler().setYAxisLogarithmic(p.logY());
        if (!p.logY()) {
            c.getStyler().setyAxisTickLabelsFormattingFunction(Renderer::compact);
            zeroBased(c.getStyler(), p);
        }
        boolean integral = p.series().stream().flatMap(s -> s.x().stream())
                .allMatch(v -> ((Number) v).doubleValue() == Math.rint(((Number) v).doubleValue()));
        if (integral && !p.logX()) { // vCPUs, iodepths: no tick at 1.5
            c.getStyler().setxAxisTickLabelsFormattingFunction(v -> v == Math.rint(v) ? compact(v) : "");
        }
        Color[] palette = c.getStyler().getSeriesColors();
        int k = 0; // real series so far: hidden whiskers and rings take no colour of their own
        for (Panel.Series s : p.series()) {
            if (s.x().isEmpty()) {
                continue;
            }
            Color color = palette[k++ % palette.length];
            List<Double> x = s.x().stream().map(v -> ((Number) v).doubleValue()).toList();
            // Symmetric error bars could reach below zero, which a log axis cannot draw: there each
            // point gets a whisker from its minimum to its maximum instead.
            XYSeries main = s.error() != null && !p.logY() ? c.addSeries(s.name(), x, s.y(), s.error())
                    : c.addSeries(s.name(), x, s.y());
            main.setLineColor(color);
            main.setMarkerColor(color);
            if (p.logY() && s.low() != null) {
                whiskers(c, s, x, color);
            }
            if (s.hollow() != null && s.hollow().contains(true)) {
                hollowOut(c, s, x, color);
            }
        }
        return c;
    }

    /** A vertical line from each point's minimum to its maximum, in the series' colour, not in the legend. */
    private static void whiskers(XYChart c, Panel.Series s, List<Double> x, Color color) {
        for (int i = 0; i < x.size(); i++) {
            if (s.low().get(i) > 0 && s.high().get(i) > s.low().get(i)) {
                XYSeries w = c.addSeries(s.name() + " range " + i, List.of(x.get(i), x.get(i)),
                        List.of(s.low().get(i), s.high().get(i)));
                w.setMarker(SeriesMarkers.NONE);
                w.setLineStyle(SeriesLines.SOLID);
                w.setLineColor(color);
                w.setShowInLegend(false);
            }
        }
    }

    /** Redraws each hollow point as a ring in the series' colour, over its solid marker: not in the legend. */
    private static void hollowOut(XYChart c, Panel.Series s, List<Double> x, Color color) {
        List<Double> hx = new ArrayList<>();
        List<Double> hy = new ArrayList<>();
        for (int i = 0; i < x.size(); i++) {
            if (s.hollow().get(i)) {
                hx.add(x.get(i));
                hy.add(s.y().get(i));
            }
        }
        XYSeries ring = c.addSeries(s.name() + " (oversubscribed)", hx, hy);
        ring.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
        ring.setMarker(new Ring());
        ring.setMarkerColor(color);
        ring.setShowInLegend(false);
    }

    /** A hollow circle: white inside, the series' colour around. */
    static final class Ring extends Marker {
        @Override
        public void paint(Graphics2D g, double x, double y, int size) {
            double d = size + 2;
            Ellipse2D e = new Ellipse2D.Double(x - d / 2, y - d / 2, d, d);
            Color color = g.getColor();
            g.setColor(Color.WHITE);
            g.fill(e);
            g.setColor(color);
            g.setStroke(new BasicStroke(2.2f));
            g.draw(e);
        }
    }

    /** A linear value axis starts at zero (unless a value is negative), so bars and ratios read true. */
    private static void zeroBased(Styler styler, Panel p) {
        boolean negative = p.series().stream().flatMap(s -> s.y().stream()).anyMatch(v -> v != null && v < 0);
        if (!negative && styler instanceof org.knowm.xchart.style.AxesChartStyler a) {
            a.setYAxisMin(0.0);
        }
    }

    private static void style(Styler s, Panel p) {
        s.setChartBackgroundColor(Color.WHITE);
        s.setLegendPosition(Styler.LegendPosition.OutsideS); // below the plot: never over the data
        Font legend = new Font(Font.SANS_SERIF, Font.PLAIN, TEXT_PX);
        // One row of legend entries if it fits the panel, else one entry per row: never clipped.
        int row = p.series().stream().mapToInt(x -> width(x.name(), legend) + 40).sum();
        s.setLegendLayout(row <= PANEL_W - 20 ? Styler.LegendLayout.Horizontal : Styler.LegendLayout.Vertical);
        s.setChartTitleFont(fit(p.title(), Font.BOLD, TITLE_PX));
        s.setLegendFont(legend);
        if (s instanceof org.knowm.xchart.style.AxesChartStyler a) {
            a.setAxisTitleFont(new Font(Font.SANS_SERIF, Font.PLAIN, TEXT_PX));
            a.setAxisTickLabelsFont(new Font(Font.SANS_SERIF, Font.PLAIN, TEXT_PX));
            a.setMarkerSize(9);
        }
    }

    static {
        System.setProperty("java.awt.headless", "true"); // before the first AWT use below
    }

    private static final Graphics2D MEASURE = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB).createGraphics();

    static int width(String text, Font f) {
        synchronized (MEASURE) {
            return MEASURE.getFontMetrics(f).stringWidth(text);
        }
    }

    /** The largest font up to {@code px} (down to 13 px) in which {@code title} fits across a panel. */
    static Font fit(String title, int style, int px) {
        for (int size = px; size > 13; size--) {
            Font f = new Font(Font.SANS_SERIF, style, size);
            if (width(title, f) <= PANEL_W - 64) { // XChart pads the title and renders wider than these metrics
                return f;
            }
        }
        return new Font(Font.SANS_SERIF, style, 13);
    }

    /** 1500000 as 1.5M, 32768 as 32.8k, 0.25 as 0.25: short tick labels. */
    static String compact(Double v) {
        double a = Math.abs(v);
        if (a >= 1e6) {
            return trim(v / 1e6) + "M";
        }
        if (a >= 1e4) {
            return trim(v / 1e3) + "k";
        }
        return trim(v);
    }

    private static String trim(double v) {
        String s = String.format(java.util.Locale.ROOT, "%.2f", v);
        return s.contains(".") ? s.replaceAll("0+$", "").replaceAll("\\.$", "") : s;
    }

    /** Notes wrapped at {@code width} characters, continuation lines indented. */
    static List<String> wrap(List<String> notes, int width) {
        List<String> out = new ArrayList<>();
        for (String n : notes) {
            StringBuilder line = new StringBuilder();
            for (String word : n.split(" ")) {
                if (line.length() > 2 && line.length() + 1 + word.length() > width) {
                    out.add(line.toString());
                    line = new StringBuilder("  ");
                }
                if (line.length() > 2 || (line.length() > 0 && !line.toString().isBlank())) {
                    line.append(' ');
                }
                line.append(word);
            }
            out.add(line.toString());
        }
        return out;
    }
}
