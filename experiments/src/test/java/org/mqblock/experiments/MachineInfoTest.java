package org.mqblock.experiments;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MachineInfoTest {

    @Test
    void regeneratedFiguresDoNotMakeTheCommitDirtyButSourceChangesDo(@TempDir Path repo) throws Exception {
        Assumptions.assumeTrue(run(repo.getParent(), "git", "--version") == 0, "needs git");
        Files.createDirectories(repo.resolve("src"));
        Files.createDirectories(repo.resolve("paper/figures"));
        Files.createDirectories(repo.resolve("paper/data"));
        Files.writeString(repo.resolve("src/A.java"), "class A {}\n");
        Files.writeString(repo.resolve("paper/figures/F1.png"), "old figure");
        Files.writeString(repo.resolve("paper/data/F1.csv"), "a,b\n");
        assertEquals(0, run(repo, "git", "init", "-q"));
        assertEquals(0, run(repo, "git", "add", "-A"));
        assertEquals(0, run(repo, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one"));
        String clean = MachineInfo.gitCommit(repo);
        assertEquals(12, clean.length(), clean);

        Files.writeString(repo.resolve("paper/figures/F1.png"), "regenerated figure");
        Files.writeString(repo.resolve("paper/data/F1.csv"), "a,b\n1,2\n");
        assertEquals(clean, MachineInfo.gitCommit(repo), "figures and their data are output, not source");

        Files.writeString(repo.resolve("src/A.java"), "class A { int x; }\n");
        assertEquals(clean + "-dirty", MachineInfo.gitCommit(repo));
    }

    @Test
    void notARepositoryIsUnknown(@TempDir Path dir) {
        assertEquals("unknown", MachineInfo.gitCommit(dir));
    }

    @Test
    void theJsonCarriesTheJvmAndTheLoadBeforeAndAfter() {
        MachineInfo m = MachineInfo.current();
        Object doc = MiniJson.parse(m.toJson());
        assertTrue(MiniJson.at(doc, "jvm_flags") instanceof List<?>);
        assertEquals((double) Runtime.getRuntime().maxMemory(), ((Number) MiniJson.at(doc, "max_heap_bytes")).doubleValue());
        assertFalse(((String) MiniJson.at(doc, "loadavg_before")).isBlank());
        assertFalse(((String) MiniJson.at(doc, "loadavg_after")).isBlank());
        assertTrue(m.describe().contains(" before, "), m.describe());
    }

    private static int run(Path dir, String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        return p.waitFor();
    }
}
