package org.mqblock.experiments.figures;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The verdict a figure's last reproduction recorded in paper/data/&lt;id&gt;.json, with where it
 * was measured: what {@code mqb list} prints and the paper's summary of verdicts lists.
 */
public record RecordedVerdict(String kind, String reason, boolean quick, int nproc, String commit) {

    private static final Pattern VERDICT = Pattern.compile(
            "\"verdict\":\\s*\\{\\s*\"kind\":\\s*\"([^\"]*)\",\\s*\"reason\":\\s*\"((?:[^\"\\\\]|\\\\.)*)\"");
    private static final Pattern COMMIT = Pattern.compile("\"commit\":\\s*\"([^\"]*)\"");
    private static final Pattern NPROC = Pattern.compile("\"nproc\":\\s*(\\d+)");
    private static final Pattern QUICK = Pattern.compile("\"quick\":\\s*true");

    /** The data file of figure {@code id} under the repository {@code root}. */
    public static Path file(Path root, String id) {
        return root.resolve("paper").resolve("data").resolve(id + ".json");
    }

    /** The recorded verdict, or empty when the figure was not reproduced (or before verdicts were recorded). */
    public static Optional<RecordedVerdict> read(Path json) {
        String doc;
        try {
            doc = Files.readString(json);
        } catch (IOException e) {
            return Optional.empty();
        }
        Matcher v = VERDICT.matcher(doc);
        if (!v.find()) {
            return Optional.empty();
        }
        Matcher c = COMMIT.matcher(doc);
        Matcher n = NPROC.matcher(doc);
        return Optional.of(new RecordedVerdict(v.group(1), v.group(2).replace("\\\"", "\"").replace("\\\\", "\\"),
                QUICK.matcher(doc).find(), n.find() ? Integer.parseInt(n.group(1)) : 0, c.find() ? c.group(1) : "unknown"));
    }

    /** Where it was measured, e.g. {@code quick run, 2 CPUs, commit 3a9c744}. */
    public String where() {
        return (quick ? "quick run, " : "") + nproc + " CPUs, commit " + commit;
    }
}
