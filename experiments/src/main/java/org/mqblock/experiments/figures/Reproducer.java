package org.mqblock.experiments.figures;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.mqblock.experiments.JsonOut;
import org.mqblock.experiments.MachineInfo;

/**
 * Runs one figure's sweep and writes everything it produced: results/&lt;id&gt;/&lt;id&gt;.csv and
 * .json (rows, findings, notes, the machine), the same table and JSON under paper/data/ (tracked:
 * the data behind a committed figure), and paper/figures/&lt;id&gt;.png, .pdf and -findings.tex
 * (what the paper prints beside the figure) and -verdict.tex (the verdict on the figure's claim,
 * which the paper quotes).
 */
public final class Reproducer {

    private final Path root;
    private final Path results;
    private final Path figures;
    private final Path data;
    private final MachineInfo machine;
    private final PrintStream out;

    public Reproducer(Path root, MachineInfo machine, PrintStream out) {
        this.root = root;
        this.results = root.resolve("results");
        this.figures = root.resolve("paper").resolve("figures");
        this.data = root.resolve("paper").resolve("data");
        this.machine = machine;
        this.out = out;
    }

    /** The repository the launcher runs from ($MQB_HOME), else the working directory. */
    public static Path root() {
        return MachineInfo.repository();
    }

    public Figure.Outcome reproduce(Figure f, boolean quick) throws Exception {
        Path dir = Files.createDirectories(results.resolve(f.id()));
        Files.createDirectories(figures);
        long t0 = System.nanoTime();
        Figure.Outcome o;
        Verdict verdict;
        try (PrintStream log = new PrintStream(Files.newOutputStream(dir.resolve(f.id() + ".log")), true);
             ProgressBar bar = new ProgressBarBuilder().setTaskName(f.id() + " " + f.slug())
                     .setInitialMax(f.steps(quick)).setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(1000)
                     .build()) {
            log.println("machine: " + machine.describe());
            int[] stepped = {0}; // the sweep's thread only
            Sweep sweep = new Sweep(quick, dir, log, () -> {
                stepped[0]++;
                bar.step();
            }, machine);
            o = f.run(sweep);
            verdict = f.judge(o.table(), sweep);
            if (stepped[0] != f.steps(quick)) { // the progress bar and its ETA were wrong: a figure's bug
                out.println(f.id() + ": stepped " + stepped[0] + " times, declared " + f.steps(quick) + " steps");
            }
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        if (!o.table().columns().equals(f.columns())) {
            throw new IllegalStateException(f.id() + " produced columns " + o.table().columns() + ", declared " + f.columns());
        }
        o.table().writeCsv(dir.resolve(f.id() + ".csv"));
        String json = json(f, o, verdict, quick, seconds);
        Files.writeString(dir.resolve(f.id() + ".json"), json);
        // The data behind the committed figure, kept in the repository beside it (results/ is not).
        Files.createDirectories(data);
        o.table().writeCsv(data.resolve(f.id() + ".csv"));
        Files.writeString(data.resolve(f.id() + ".json"), json);
        List<String> notes = new ArrayList<>();
        notes.add(f.id() + ": " + f.claim());
        notes.add("Verdict: " + verdict.line());
        notes.add("Measured on " + machine.describe() + (quick ? " (quick run: short, fewer points)" : "") + ".");
        o.notes().stream().filter(n -> !n.isBlank()).forEach(notes::add);
        Renderer.render(o.panels(), notes, figures.resolve(f.id() + ".png"), figures.resolve(f.id() + ".pdf"));
        Files.writeString(figures.resolve(f.id() + "-findings.tex"), findingsTex(o, verdict, quick));
        Files.writeString(figures.resolve(f.id() + "-verdict.tex"), "% Written by mqb reproduce; do not edit.\n\\textbf{"
                + verdict.kind().label + "}" + (quick ? " (quick run)" : "") + "\n");
        Files.writeString(figures.resolve(f.id() + "-claim.tex"), "% Written by mqb reproduce; do not edit.\n" + tex(f.claim()) + "\n");
        Files.writeString(figures.resolve("verdicts.tex"), verdictsTex(root));
        Files.writeString(figures.resolve("verdict-summary.tex"), verdictSummaryTex(root));
        out.printf("%s done in %.0f s: %s, %s%n", f.id(), seconds, results.relativize(dir.resolve(f.id() + ".csv")),
                "paper/figures/" + f.id() + ".{png,pdf}");
        out.println("  verdict: " + verdict.line());
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

    /** Every figure's recorded verdict, for the paper's conclusion: what holds, what does not, what was not testable. */
    static String verdictsTex(Path root) {
        StringBuilder b = new StringBuilder("% Written by mqb reproduce from paper/data; do not edit.\n\\begin{itemize}\n");
        for (Figure f : Figures.ALL) {
            b.append("  \\item ").append(f.id()).append(": ");
            RecordedVerdict.read(RecordedVerdict.file(root, f.id())).ifPresentOrElse(
                    v -> b.append("\\textbf{").append(v.kind()).append("} (").append(tex(v.where())).append("): ")
                            .append(tex(v.reason())),
                    () -> b.append("\\emph{not reproduced}"));
            b.append('\n');
        }
        return b.append("\\end{itemize}\n").toString();
    }

    /**
     * One sentence for the abstract: how many claims the last reproduction supported, did not
     * support, or could not test on its machine, each with its figures.
     */
    static String verdictSummaryTex(Path root) {
        Map<String, List<String>> by = new LinkedHashMap<>();
        for (Verdict.Kind k : Verdict.Kind.values()) {
            by.put(k.label, new ArrayList<>());
        }
        List<String> missing = new ArrayList<>();
        for (Figure f : Figures.ALL) {
            RecordedVerdict.read(RecordedVerdict.file(root, f.id())).ifPresentOrElse(
                    v -> by.computeIfAbsent(v.kind(), k -> new ArrayList<>()).add(f.id()), () -> missing.add(f.id()));
        }
        StringBuilder b = new StringBuilder("% Written by mqb reproduce from paper/data; do not edit.\n");
        b.append("In the last reproduction, of ").append(Figures.ALL.size()).append(" claims ");
        List<String> parts = new ArrayList<>();
        by.forEach((kind, ids) -> {
            if (!ids.isEmpty()) {
                parts.add(ids.size() + " " + (ids.size() == 1 ? "was " : "were ") + "\\textbf{" + kind + "} ("
                        + String.join(", ", ids) + ")");
            }
        });
        if (!missing.isEmpty()) {
            parts.add(missing.size() + " not reproduced (" + String.join(", ", missing) + ")");
        }
        b.append(parts.isEmpty() ? "none was reproduced" : String.join("; ", parts));
        return b.append(", on the machines the figures name.\n").toString();
    }

    private String json(Figure f, Figure.Outcome o, Verdict verdict, boolean quick, double seconds) {
        JsonOut j = new JsonOut().beginObject();
        j.field("figure", f.id()).field("slug", f.slug()).field("claim", f.claim()).field("quick", quick);
        j.name("verdict").beginObject().field("kind", verdict.kind().label).field("reason", verdict.reason()).endObject();
        j.field("finished", Instant.now().toString()).field("elapsed_s", seconds);
        j.name("machine").raw(machine.toJson());
        j.name("columns").beginArray();
        o.table().columns().names().forEach(j::value);
        j.endArray();
        j.name("column_types").beginObject();
        o.table().columns().forEach(c -> j.field(c.name(), c.typeName()));
        j.endObject();
        j.name("rows");
        o.table().writeJson(j);
        j.name("findings").beginArray();
        o.findings().forEach(j::value);
        j.endArray();
        j.name("notes").beginArray();
        o.notes().stream().filter(n -> !n.isBlank()).forEach(j::value);
        j.endArray();
        return j.endObject().toString();
    }

    private String findingsTex(Figure.Outcome o, Verdict verdict, boolean quick) {
        StringBuilder b = new StringBuilder("% Written by mqb reproduce; do not edit.\n");
        b.append("\\begin{itemize}\n");
        b.append("  \\item \\textbf{").append(verdict.kind().label).append(":} ").append(tex(verdict.reason())).append('\n');
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
