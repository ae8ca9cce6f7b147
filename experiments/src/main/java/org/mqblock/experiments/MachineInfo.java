package org.mqblock.experiments;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The machine a number was measured on: recorded beside every result, because a figure from a
 * 2-core laptop and one from a 16-core server say different things. Besides the hardware and the
 * JVM (its flags and heap), it keeps the load average when it was taken ({@link #current()}, at
 * the start of a run) and reads it again each time it is written out ({@link #toJson()}, {@link
 * #describe()}, at the end), so every result says whether something else ran beside it.
 *
 * @param commit the commit of the repository the results belong to ($MQB_HOME, else the working
 *     directory), with {@code -dirty} when a tracked file other than generated output differs
 */
public record MachineInfo(String cpuModel, int nproc, String jdk, String os, String commit, List<String> jvmFlags,
                          long maxHeapBytes, long memTotalBytes, String loadBefore) {

    /** What {@code reproduce} and the commands write; a change there does not make the sources dirty. */
    private static final List<String> GENERATED = List.of("paper/figures", "paper/data", "results");

    public static MachineInfo current() {
        return new MachineInfo(
                readCpuModel(),
                Runtime.getRuntime().availableProcessors(),
                System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version"),
                System.getProperty("os.name") + " " + System.getProperty("os.version") + " "
                        + System.getProperty("os.arch"),
                gitCommit(),
                List.copyOf(ManagementFactory.getRuntimeMXBean().getInputArguments()),
                Runtime.getRuntime().maxMemory(),
                memTotal(),
                loadAverage());
    }

    /** One line, for human readers and for the header of result files. */
    public String describe() {
        return cpuModel + ", " + nproc + " CPUs, " + jdk + ", " + os + ", commit " + commit + ", load " + loadBefore
                + " before, " + loadAverage() + " after";
    }

    public String toJson() {
        JsonOut j = new JsonOut().beginObject();
        j.field("cpu_model", cpuModel).field("nproc", nproc).field("jdk", jdk).field("os", os).field("commit", commit);
        j.name("jvm_flags").beginArray();
        jvmFlags.forEach(j::value);
        j.endArray();
        j.field("max_heap_bytes", maxHeapBytes).field("mem_total_bytes", memTotalBytes);
        j.field("loadavg_before", loadBefore).field("loadavg_after", loadAverage());
        return j.endObject().toString().trim();
    }

    /** The 1, 5 and 15 minute load averages, as /proc/loadavg gives them, or "unknown". */
    static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException | RuntimeException e) {
            return "unknown";
        }
    }

    private static long memTotal() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemTotal:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux
        }
        return -1;
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

    /** The commit of {@link #repository()}. */
    public static String gitCommit() {
        return gitCommit(repository());
    }

    /**
     * The commit checked out in {@code repo}, with "-dirty" when a tracked file other than
     * generated output (figures, their data, results) differs from it; "unknown" without git.
     */
    public static String gitCommit(Path repo) {
        String head = git(repo, "rev-parse", "--short=12", "HEAD");
        if (head == null || head.isEmpty()) {
            return "unknown";
        }
        List<String> status = new ArrayList<>(List.of("status", "--porcelain", "--untracked-files=no", "--", "."));
        GENERATED.forEach(g -> status.add(":(exclude)" + g));
        String changes = git(repo, status.toArray(String[]::new));
        return changes != null && !changes.isBlank() ? head + "-dirty" : head;
    }

    /** The repository the launcher runs from ($MQB_HOME), else the working directory. */
    public static Path repository() {
        String home = System.getenv("MQB_HOME");
        return Path.of(home == null || home.isBlank() ? "." : home).toAbsolutePath().normalize();
    }

    private static String git(Path repo, String... args) {
        String[] cmd = new String[args.length + 3];
        cmd[0] = "git";
        cmd[1] = "-C";
        cmd[2] = repo.toString();
        System.arraycopy(args, 0, cmd, 3, args.length);
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes()).trim();
            return p.waitFor(5, TimeUnit.SECONDS) && p.exitValue() == 0 ? out : null;
        } catch (IOException e) {
            return null; // no git: a release tarball
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }
}
