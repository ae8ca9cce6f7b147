package org.mqblock.experiments.figures;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.mqblock.experiments.MachineInfo;
import org.mqblock.experiments.Mqb;

/**
 * Adding a figure is one class and one line in {@link Figures#ALL}: everything else (find,
 * {@code mqb list}, {@code mqb reproduce}, {@code .ci/check-figures.py}) reads the figure itself.
 */
class FigureRegistryTest {

    @Test
    void everyRegisteredFigureIsFoundAndListed() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream was = System.out;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            assertEquals(0, Mqb.commandLine().execute("list"));
        } finally {
            System.setOut(was);
        }
        String listed = out.toString(StandardCharsets.UTF_8);
        Set<String> ids = new HashSet<>();
        for (int i = 0; i < Figures.ALL.size(); i++) {
            Figure f = Figures.ALL.get(i);
            assertEquals("F" + (i + 1), f.id(), "the registry lists the figures in order");
            assertTrue(ids.add(f.id()));
            assertSame(f, Figures.find(f.id().toLowerCase()));
            assertSame(f, Figures.find(f.slug()));
            assertTrue(listed.contains(f.id() + " " + " ".repeat(Math.max(0, 3 - f.id().length())) + f.slug()), f.id());
            assertTrue(listed.contains(f.claim()), f.id() + "'s claim in mqb list");
            assertNotEquals(0, f.columns().size());
        }
    }

    /** A figure the registry does not know yet reproduces, and check-figures accepts it with no edit of its own. */
    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void aNewFigurePassesCheckFiguresWithNothingButItsClass(@TempDir Path root) throws Exception {
        // Surefire runs in the module's directory, one below the repository's root.
        Path script = Path.of("").toAbsolutePath().getParent().resolve(".ci/check-figures.py");
        assumeTrue(Files.exists(script) && python(List.of("--version")) == 0, "python3 and .ci/check-figures.py");
        new Reproducer(root, MachineInfo.current(), new PrintStream(OutputStream.nullOutputStream())).reproduce(
                new FakeFigure(), true);
        assertEquals(0, python(List.of(script.toString(), "--root", root.toString(), "FX")));

        // A cell of the wrong type in the JSON (a text where the figure declares an integer) is caught.
        Path json = root.resolve("results/FX/FX.json");
        Files.writeString(json, Files.readString(json).replaceFirst("\"i\": 1", "\"i\": \"1\""));
        assertEquals(1, python(List.of(script.toString(), "--root", root.toString(), "FX")));
    }

    private static int python(List<String> args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of("python3"));
        cmd.addAll(args);
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .start();
            return p.waitFor(60, TimeUnit.SECONDS) ? p.exitValue() : -1;
        } catch (java.io.IOException e) {
            return -1;
        }
    }
}
