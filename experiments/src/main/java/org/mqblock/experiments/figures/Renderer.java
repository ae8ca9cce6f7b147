package org.mqblock.experiments.figures;

import de.erichseifert.vectorgraphics2d.VectorGraphics2D;
import de.erichseifert.vectorgraphics2d.pdf.PDFProcessor;
import de.erichseifert.vectorgraphics2d.util.PageSize;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
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
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.Styler;

/**
 * Draws a figure's panels side by side (three to a row) with its notes underneath, once into a
 * PNG and once, as vectors, into a PDF for the paper. Headless: needs no display.
 */
public final class Renderer {

    static final int PANEL_W = 560;
    static final int PANEL_H = 400;
    static final int PER_ROW = 3;
    static final int NOTE_LINE_H = 16;

    private Renderer() {}

    public static void render(List<Panel> panels, List<String> notes, Path png, Path pdf) throws IOException {
        System.setProperty("java.awt.headless", "true");
        int cols = Math.min(PER_ROW, panels.size());
        int rows = (panels.size() + PER_ROW - 1) / PER_ROW;
        List<String> lines = wrap(notes, cols * PANEL_W / 7);
        int w = cols * PANEL_W;
        int h = rows * PANEL_H + 12 + lines.size() * NOTE_LINE_H;

        BufferedImage image = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        paint(g, panels, lines, w, h);
        g.dispose();
        Files.createDirectories(png.getParent());
        ImageIO.write(image, "png", png.toFile());

        VectorGraphics2D vg = new VectorGraphics2D();
        paint(vg, panels, lines, w, h);
        try (OutputStream out = Files.newOutputStream(pdf)) {
            new PDFProcessor(true).getDocument(vg.getCommands(), new PageSize(w, h)).writeTo(out);
        }
    }

    private static void paint(Graphics2D g, List<Panel> panels, List<String> lines, int w, int h) {
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        for (int i = 0; i < panels.size(); i++) {
            Graphics2D pg = (Graphics2D) g.create((i % PER_ROW) * PANEL_W, (i / PER_ROW) * PANEL_H, PANEL_W, PANEL_H);
            chart(panels.get(i)).paint(pg, PANEL_W, PANEL_H);
            pg.dispose();
        }
        g.setColor(Color.DARK_GRAY);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        int y = ((panels.size() + PER_ROW - 1) / PER_ROW) * PANEL_H + NOTE_LINE_H;
        for (String line : lines) {
            g.drawString(line, 8, y);
            y += NOTE_LINE_H;
        }
    }

    static Chart<?, ?> chart(Panel p) {
        if (p.categorical()) {
            CategoryChart c = new CategoryChartBuilder().width(PANEL_W).height(PANEL_H).title(p.title())
                    .xAxisTitle(p.xLabel()).yAxisTitle(p.yLabel()).build();
            style(c.getStyler());
            c.getStyler().setYAxisLogarithmic(p.logY());
            c.getStyler().setyAxisTickLabelsFormattingFunction(Renderer::compact);
            c.getStyler().setLabelsVisible(false);
            boolean errors = false;
            for (Panel.Series s : p.series()) {
                if (s.error() != null) {
                    c.addSeries(s.name(), s.x().stream().map(String::valueOf).toList(), s.y(), s.error());
                    errors = true;
                } else {
                    c.addSeries(s.name(), s.x().stream().map(String::valueOf).toList(), s.y());
                }
            }
            if (errors) {
                c.getStyler().setErrorBarsColor(Color.BLACK);
            }
            c.getStyler().setLegendVisible(p.series().size() > 1); // one series: the axis says it all
            if (p.series().stream().mapToInt(s -> s.x().size()).max().orElse(0) > 4) {
                c.getStyler().setXAxisLabelRotation(30); // many categories: long names would collide
            }
            return c;
        }
        XYChart c = new XYChartBuilder().width(PANEL_W).height(PANEL_H).title(p.title())
                .xAxisTitle(p.xLabel()).yAxisTitle(p.yLabel()).build();
        style(c.getStyler());
        c.getStyler().setXAxisLogarithmic(p.logX());
        c.getStyler().setYAxisLogarithmic(p.logY());
        c.getStyler().setyAxisTickLabelsFormattingFunction(Renderer::compact);
        boolean integral = p.series().stream().flatMap(s -> s.x().stream())
                .allMatch(v -> ((Number) v).doubleValue() == Math.rint(((Number) v).doubleValue()));
        if (integral) { // vCPUs, iodepths: no tick at 1.5
            c.getStyler().setxAxisTickLabelsFormattingFunction(v -> v == Math.rint(v) ? compact(v) : "");
        }
        for (Panel.Series s : p.series()) {
            if (s.x().isEmpty()) {
                continue;
            }
            List<Double> x = s.x().stream().map(v -> ((Number) v).doubleValue()).toList();
            c.addSeries(s.name(), x, s.y());
        }
        return c;
    }

    private static void style(Styler s) {
        s.setChartBackgroundColor(Color.WHITE);
        s.setLegendPosition(Styler.LegendPosition.OutsideS); // below the plot: never over the data
        s.setLegendLayout(Styler.LegendLayout.Horizontal);
        s.setChartTitleFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
        s.setLegendFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
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
