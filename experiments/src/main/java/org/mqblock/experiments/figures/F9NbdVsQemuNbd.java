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

    static final Column<String> SERVER = Column.text("server");
    static final Column<String> RW = Column.text("rw");
    static final Column<Integer> IODEPTH = Column.integer("iodepth");
    static final Column<Integer> NUMJOBS = Column.integer("numjobs");
    static final Column<Double> IOPS = Column.real("iops");
    static final Column<Double> P99 = Column.real("p99_us");
    static final Column<Double> RATIO = Column.real("ratio_vs_qemu_nbd");
    static final Column<Double> IOPS_MIN = Column.real("iops_min");
    static final Column<Double> IOPS_MAX = Column.real("iops_max");
    /** Also scripts/nbd-bench.sh's CSV header, which {@link #read} checks. */
    static final Columns COLUMNS = Columns.of(SERVER, RW, IODEPTH, NUMJOBS, IOPS, P99, RATIO, IOPS_MIN, IOPS_MAX);

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
        List<Table.Row> ours = t.where(SERVER.is("mqb")).stream().filter(r -> r.get(IODEPTH) >= 32).toList();
        if (ours.isEmpty() || t.where(SERVER.is("qemu-nbd")).isEmpty()) {
            return Verdict.notTestable("needs mqb and qemu-nbd points at iodepth >= 32");
        }
        List<Verdict> parts = new ArrayList<>();
        for (Table.Row r : ours) {
            parts.add(Verdict.atLeast("mqb/qemu-nbd " + r.get(RW) + " iodepth " + r.get(IODEPTH) + " x" + r.get(NUMJOBS),
                    r.num(RATIO), 1.2));
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
    public Columns columns() {
        return COLUMNS;
    }

    @Override
    public Outcome run(Sweep s) throws Exception {
        Path script = Reproducer.root().resolve("scripts").resolve("nbd-bench.sh");
        List<String> cmd = new ArrayList<>(List.of("bash", script.toString(), "--out", s.dir().toString()));
        if (s.quick()) {
            cmd.add("--quick");
        }
        cmd.addAll(List.of("--repeat", String.valueOf(Jobs.reps(s.quick())))); // servers alternate within each repetition
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
            for (String server : t.distinct(SERVER)) {
                List<Object> x = new ArrayList<>();
                List<Double> y = new ArrayList<>();
                List<Double> spread = new ArrayList<>();
                List<Double> z = new ArrayList<>();
                for (Table.Row r : t.where(SERVER.is(server), RW.is(rw))) {
                    x.add("qd" + r.get(IODEPTH) + " x" + r.get(NUMJOBS));
                    y.add(r.num(IOPS));
                    spread.add(Math.max(r.num(IOPS) - r.num(IOPS_MIN), r.num(IOPS_MAX) - r.num(IOPS)));
                    z.add(r.num(P99));
                }
                iops.series(server, x, y, spread); // median, bars to the farther of min and max
                p99.series(server, x, z);
            }
            panels.add(iops);
            panels.add(p99);
        }
        List<String> findings = new ArrayList<>();
        for (Table.Row r : t.rows()) {
            if (!r.get(SERVER).equals("qemu-nbd") && r.get(IODEPTH) >= 32) {
                findings.add(String.format(Locale.ROOT, "%s %s iodepth %d, %d job(s): %.0f IOPS = %.2fx qemu-nbd, p99 %.0f us.",
                        r.get(SERVER), r.get(RW), r.get(IODEPTH), r.get(NUMJOBS), r.num(IOPS), r.num(RATIO), r.num(P99)));
            }
        }
        return new Outcome(t, panels, findings, List.of("Servers and fio share this machine's " + s.cpus() + " CPUs;"
                + " each server runs alone while its jobs run, alternating in one run. Raw fio JSON is in results/F9/."));
    }

    /** The script's CSV, typed by {@link #COLUMNS}; its header must name them in order. */
    static Table read(Path csv) throws java.io.IOException {
        List<String> lines = Files.readAllLines(csv);
        if (!List.of(lines.get(0).split(",")).equals(COLUMNS.names())) {
            throw new IllegalStateException(csv + ": columns " + lines.get(0) + ", expected " + COLUMNS.names());
        }
        Table t = new Table(COLUMNS);
        for (String line : lines.subList(1, lines.size())) {
            if (line.isBlank()) {
                continue;
            }
            String[] f = line.split(",", -1);
            t.row().set(SERVER, f[0]).set(RW, f[1]).set(IODEPTH, Integer.parseInt(f[2])).set(NUMJOBS, Integer.parseInt(f[3]))
                    .set(IOPS, Double.parseDouble(f[4])).set(P99, Double.parseDouble(f[5]))
                    .set(RATIO, f[6].isEmpty() ? Double.NaN : Double.parseDouble(f[6]))
                    .set(IOPS_MIN, Double.parseDouble(f[7])).set(IOPS_MAX, Double.parseDouble(f[8])).add();
        }
        return t;
    }
}
