package org.mqblock.experiments.figures;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * F9: fio's nbd engine against our NBD export (memory backend) and against qemu-nbd and nbdkit
 * serving a same-size image, alternated in one run by scripts/nbd-bench.sh, whose CSV this
 * figure plots. The script installs fio, qemu-utils and nbdkit from Debian when missing.
 */
final class F9NbdVsQemuNbd implements Figure {

    @Override
    public String id() {
        return "F9";
    }

    @Override
    public String slug() {
        return "nbd-vs-qemu-nbd";
    }

    @Override
    public String claim() {
        return "Driven by fio over NBD, our export (a BlockQueue per connection on IOThreads) serves >= 1.2x"
                + " qemu-nbd's 4k IOPS at every point with iodepth 32 and above, on the same machine.";
    }

    @Override
    public Verdict judge(Table t, Sweep s) {
        List<Object[]> ours = t.select(r -> r[0].equals("mqb") && ((Number) r[2]).intValue() >= 32);
        if (ours.isEmpty() || t.where("server", "qemu-nbd").isEmpty()) {
            return Verdict.notTestable("needs mqb and qemu-nbd points at iodepth >= 32");
        }
        int ratio = t.index("ratio_vs_qemu_nbd");
        List<Verdict> parts = new ArrayList<>();
        for (Object[] r : ours) {
            parts.add(Verdict.atLeast("mqb/qemu-nbd " + r[1] + " iodepth " + r[2] + " x" + r[3], Table.number(r, ratio), 1.2));
        }
        return Verdict.all(parts);
    }

    @Override
    public int steps(boolean quick) {
        return 1;
    }

    @Override
    public String expectedRuntime(boolean quick) {
        return quick ? "~2 min" : "~8 min";
    }

    @Override
    public List<String> columns() {
        return List.of("server", "rw", "iodepth", "numjobs", "iops", "p99_us", "ratio_vs_qemu_nbd");
    }

    @Override
    public Outcome run(Sweep s) throws Exception {
        Path script = Reproducer.root().resolve("scripts").resolve("nbd-bench.sh");
        List<String> cmd = new ArrayList<>(List.of("bash", script.toString(), "--out", s.dir().toString()));
        if (s.quick()) {
            cmd.add("--quick");
        }
        Process p = new ProcessBuilder(cmd).directory(Reproducer.root().toFile()).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(s.dir().resolve("F9.log").toFile())).start();
        if (!p.waitFor(30, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new IllegalStateException(script + " ran for 30 minutes; see " + s.dir().resolve("F9.log"));
        }
        if (p.exitValue() != 0) {
            throw new IllegalStateException(script + " failed with status " + p.exitValue() + "; see "
                    + s.dir().resolve("F9.log"));
        }
        s.step();
        Table t = read(s.dir().resolve("nbd-bench.csv"));
        List<Panel> panels = new ArrayList<>();
        for (String rw : List.of("randread", "randwrite")) {
            Panel iops = Panel.bars("4k " + rw + " over NBD (fio nbd engine)", "iodepth x jobs", "IOPS");
            Panel p99 = Panel.bars("4k " + rw + " p99 latency", "iodepth x jobs", "p99 (us)");
            for (String server : servers(t)) {
                List<Object[]> rows = t.select(r -> r[0].equals(server) && r[1].equals(rw));
                List<Object> x = new ArrayList<>();
                List<Double> y = new ArrayList<>();
                List<Double> z = new ArrayList<>();
                for (Object[] r : rows) {
                    x.add("qd" + r[2] + " x" + r[3]);
                    y.add(Table.number(r, 4));
                    z.add(Table.number(r, 5));
                }
                iops.series(server, x, y);
                p99.series(server, x, z);
            }
            panels.add(iops);
            panels.add(p99);
        }
        List<String> findings = new ArrayList<>();
        for (Object[] r : t.select(r -> !r[0].equals("qemu-nbd") && ((Number) r[2]).intValue() >= 32)) {
            findings.add(String.format(Locale.ROOT, "%s %s iodepth %s, %s job(s): %.0f IOPS = %.2fx qemu-nbd, p99 %.0f us.",
                    r[0], r[1], r[2], r[3], Table.number(r, 4), Table.number(r, 6), Table.number(r, 5)));
        }
        return new Outcome(t, panels, findings, List.of("Servers and fio share this machine's " + s.cpus() + " CPUs;"
                + " each server runs alone while its jobs run, alternating in one run. Raw fio JSON is in results/F9/."));
    }

    private static List<String> servers(Table t) {
        return t.rows().stream().map(r -> (String) r[0]).distinct().toList();
    }

    /** The script's CSV, typed: numbers where the columns are numeric. */
    static Table read(Path csv) throws java.io.IOException {
        List<String> lines = Files.readAllLines(csv);
        Table t = new Table(lines.get(0).split(","));
        for (String line : lines.subList(1, lines.size())) {
            if (line.isBlank()) {
                continue;
            }
            String[] f = line.split(",");
            t.add(f[0], f[1], Integer.parseInt(f[2]), Integer.parseInt(f[3]), Double.parseDouble(f[4]),
                    Double.parseDouble(f[5]), f[6].isEmpty() ? Double.NaN : Double.parseDouble(f[6]));
        }
        return t;
    }
}
