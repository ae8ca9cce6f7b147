package org.mqblock.experiments;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * The machine a number was measured on: recorded beside every result, because a figure from a
 * 2-core laptop and one from a 16-core server say different things.
 */
public record MachineInfo(String cpuModel, int nproc, String jdk, String os, String commit) {

    public static MachineInfo current() {
        return new MachineInfo(
                readCpuModel(),
                Runtime.getRuntime().availableProcessors(),
                System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version"),
                System.getProperty("os.name") + " " + System.getProperty("os.version") + " "
                        + System.getProperty("os.arch"),
                gitCommit());
    }

    /** One line, for human readers and for the header of result files. */
    public String describe() {
        return cpuModel + ", " + nproc + " CPUs, " + jdk + ", " + os + ", commit " + commit;
    }

    public String toJson() {
        return "{\"cpu_model\": " + JsonOut.quote(cpuModel) + ", \"nproc\": " + nproc
                + ", \"jdk\": " + JsonOut.quote(jdk) + ", \"os\": " + JsonOut.quote(os)
                + ", \"commit\": " + JsonOut.quote(commit) + "}";
    }

    static String readCpuModel() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    return line.substring(line.indexOf(':') + 1).trim();
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or /proc unreadable: say so rather than guess
        }
        return "unknown (" + System.getProperty("os.arch") + ")";
    }

    static String gitCommit() {
        try {
            Process p = new ProcessBuilder("git", "rev-parse", "--short=12", "HEAD")
                    .redirectErrorStream(true)
                    .start();
            String out = new String(p.getInputStream().readAllBytes()).trim();
            if (p.waitFor(5, TimeUnit.SECONDS) && p.exitValue() == 0 && !out.isEmpty()) {
                Process dirty = new ProcessBuilder("git", "status", "--porcelain", "--untracked-files=no")
                        .redirectErrorStream(true)
                        .start();
                boolean isDirty = !new String(dirty.getInputStream().readAllBytes()).isBlank();
                dirty.waitFor(5, TimeUnit.SECONDS);
                return isDirty ? out + "-dirty" : out;
            }
        } catch (IOException e) {
            // no git: a release tarball
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return "unknown";
    }
}
