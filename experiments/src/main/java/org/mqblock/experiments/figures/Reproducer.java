package org.mqblock.experiments.figures;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.mqblock.experiments.JsonOut;
import org.mqblock.experiments.MachineInfo;

/**
 * Runs one figure's sweep and writes everything it produced: results/&lt;id&gt;/&lt;id&gt;.csv and
 * .json (rows, findings, notes, the machine), and paper/figures/&lt;id&gt;.png, .pdf and
 * -findings.tex (what the paper prints beside the figure).
 */
public final class Reproducer {

    private final Path results;
    private final Path figures;
    private final MachineInfo machine;
    private final PrintStream out;

    public Reproducer(Path root, MachineInfo machine, PrintStream out) {
        this.results = root.resolve("results");
        this.figures = root.resolve("paper").resolve("figures");
        this.machine = machine;
        this.out = out;
    }

    /** The repository the launcher runs from ($MQB_HOME), else the working directory. */
    public static Path root() {
        String home = System.getenv("MQB_HOME");
        return Path.of(home == null || home.isBlank() ? "." : home).toAbsolutePath().normalize();
    }

    public Figure.Outcome reproduce(Figure f, boolean quick) throws Exception {
        Path dir = Files.createDirectories(results.resolve(f.id()));
        Files.createDirectories(figures);
        long t0 = System.nanoTime();
        Figure.Outcome o;
        try (PrintStream log = new PrintStream(Files.newOutputStream(dir.resolve(f.id() + ".log")), true);
             ProgressBar bar = new ProgressBarBuilder().setTaskName(f.id() + " " + f.slug())
                     .setInitialMax(f.steps(quick)).setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(1000)
                     .build()) {
            log.println("machine: " + machine.describe());
            o = f.run(new Sweep(quick, dir, log, bar::step, machine));
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        if (!o.table().columns().equals(f.columns())) {
            throw new IllegalStateException(f.id() + " produced columns " + o.table().columns() + ", declared " + f.columns());
        }
        o.table().writeCsv(dir.resolve(f.id() + ".csv"));
        Files.writeString(dir.resolve(f.id() + ".json"), json(f, o, quick, seconds));
        List<String> notes = new ArrayList<>();
        notes.add(f.id() + ": " + f.claim());
        if (o.verdict() != null) {
            notes.add("Verdict: " + o.verdict());
        }
        notes.add("Measured on " + machine.describe() + (quick ? " (quick run: short, fewer points)" : "") + ".");
        o.notes().stream().filter(n -> !n.isBlank()).forEach(notes::add);
        Renderer.render(o.panels(), notes, figures.resolve(f.id() + ".png"), figures.resolve(f.id() + ".pdf"));
        Files.writeString(figures.resolve(f.id() + "-findings.tex"), findingsTex(o, quick));
        out.printf("%s done in %.0f s: %s, %s%n", f.id(), seconds, results.relativize(dir.resolve(f.id() + ".csv")),
                "paper/figures/" + f.id() + ".{png,pdf}");
        if (o.verdict() != null) {
            out.println("  verdict: " + o.verdict());
        }
        for (String s : o.findings()) {
            out.println("  - " + s);
        }
        for (String s : o.notes()) {
            if (!s.isBlank()) {
                out.println("  note: " + s);
            }
        }
        return o;
    }

    private String json(Figure f, Figure.Outcome o, boolean quick, double seconds) {
        JsonOut j = new JsonOut().beginObject();
        j.field("figure", f.id()).field("slug", f.slug()).field("claim", f.claim()).field("quick", quick);
        j.field("finished", Instant.now().toString()).field("elapsed_s", seconds);
        j.name("machine").raw(machine.toJson());
        j.name("columns").beginArray();
        o.table().columns().forEach(j::value);
        j.endArray();
        j.name("rows");
        o.table().writeJson(j);
        if (o.verdict() != null) {
            j.name("verdict").beginObject().field("kind", o.verdict().kind().name()).field("label", o.verdict().kind().label)
                    .field("reason", o.verdict().reason()).endObject();
        }
        j.name("findings").beginArray();
        o.findings().forEach(j::value);
        j.endArray();
        j.name("notes").beginArray();
        o.notes().stream().filter(n -> !n.isBlank()).forEach(j::value);
        j.endArray();
        return j.endObject().toString();
    }

    private String findingsTex(Figure.Outcome o, boolean quick) {
        StringBuilder b = new StringBuilder("% Written by mqb reproduce; do not edit.\n");
        b.append("\\begin{itemize}\n");
        if (o.verdict() != null) {
            b.append("  \\item \\textbf{").append(tex(o.verdict().kind().label)).append("}: ").append(tex(o.verdict().reason()))
                    .append('\n');
        }
        for (String s : o.findings()) {
            b.append("  \\item ").append(tex(s)).append('\n');
        }
        for (String s : o.notes()) {
            if (!s.isBlank()) {
                b.append("  \\item \\emph{").append(tex(s)).append("}\n");
            }
        }
        b.append("  \\item \\emph{Measured on ").append(tex(machine.describe())).append(quick ? " (quick run)" : "")
                .append(".}\n");
        return b.append("\\end{itemize}\n").toString();
    }

    static String tex(String s) {
        StringBuilder b = new StringBuilder();
        for (char c : s.toCharArray()) {
            switch (c) {
                case '\\' -> b.append("\\textbackslash{}");
                case '&', '%', '$', '#', '_', '{', '}' -> b.append('\\').append(c);
                case '~' -> b.append("\\textasciitilde{}");
                case '^' -> b.append("\\textasciicircum{}");
                default -> b.append(c);
            }
        }
        return b.toString();
    }
}
