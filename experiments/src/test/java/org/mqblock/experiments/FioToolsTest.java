package org.mqblock.experiments;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real tools read what {@code mqb run} and {@code mqb compare} write: Debian fio's
 * fio_jsonplus_clat2csv (which checks every bin it converts against the JSON) and a reader of the
 * keys fio-plot reads (test resource fio-plot-reader.py); and mqb's logs have fio 3.33's format
 * (compared with fio's own logs in test resources). CI installs fio (scripts/install-fio-peers.sh).
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class FioToolsTest {

    static final Path CLAT2CSV = Path.of("/usr/bin/fio_jsonplus_clat2csv");

    @Test
    void clat2csvAndAFioPlotReaderParseEveryRunAndCompareOutput(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isExecutable(CLAT2CSV), "needs Debian's fio (scripts/install-fio-peers.sh)");
        List<Path> files = new ArrayList<>();
        for (String rw : List.of("randrw", "randread", "write")) {
            Path json = dir.resolve(rw + ".json");
            MqbRun r = MqbRun.of("run", "--runtime", "600ms", "--ramp-time", "100ms", "--size", "8m", "--rw", rw,
                    "--pin", "off", "--output", json.toString());
            assertEquals(0, r.exitCode(), r.err() + r.out());
            files.add(json);
        }
        Path json = dir.resolve("stdout.json");
        MqbRun plain = MqbRun.of("run", "--runtime", "300ms", "--ramp-time", "0", "--size", "8m", "--pin", "off",
                "--output-format", "json");
        assertEquals(0, plain.exitCode(), plain.err());
        Files.writeString(json, plain.out());
        assertTrue(!plain.out().contains("\"bins\""), "json (not json+) has no bins");
        Path home = Files.createDirectories(dir.resolve("home"));
        Process c = MqbProcess.start(home, dir.resolve("compare.out"), dir.resolve("compare.err"), "compare",
                "--runtime", "300ms", "--numjobs", "2", "--iodepth", "4");
        assertTrue(c.waitFor(120, TimeUnit.SECONDS), "mqb compare did not finish");
        assertEquals(0, c.exitValue(), Files.readString(dir.resolve("compare.err")));
        try (Stream<Path> s = Files.list(home.resolve("results").resolve("compare"))) {
            s.filter(p -> p.toString().endsWith(".json")).forEach(files::add);
        }
        assertEquals(6, files.size(), files.toString());
        for (Path f : files) {
            if (!f.equals(json)) {
                Path csv = dir.resolve(f.getFileName() + ".csv");
                run(List.of("python3", CLAT2CSV.toString(), f.toString(), csv.toString()), f + " by fio_jsonplus_clat2csv");
                String name = csv.getFileName().toString();
                Path job0 = csv.resolveSibling(name.substring(0, name.length() - 4) + "_job0.csv");
                assertTrue(Files.readAllLines(job0).size() > 1, job0 + " has rows");
            }
        }
        Path reader = dir.resolve("fio-plot-reader.py");
        Files.writeString(reader, resource("fio-plot-reader.py"));
        List<String> cmd = new ArrayList<>(List.of("python3", reader.toString()));
        files.forEach(f -> cmd.add(f.toString()));
        String out = run(cmd, "fio-plot-reader");
        assertTrue(out.contains("randrw bs=4k iodepth=32 numjobs=1 write iops="), out);
    }

    /**
     * Per-request logs: one line per measured request in each of lat/clat/slat/iops/bw (no request
     * lost or logged twice), in fio's columns; averaged logs: one line per direction and window.
     */
    @Test
    void logsHaveFiosFormatAndOneEntryPerMeasuredRequest(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("out.json");
        String prefix = dir.resolve("unit").toString();
        MqbRun r = MqbRun.of("run", "--runtime", "500ms", "--ramp-time", "100ms", "--size", "8m", "--rw", "randrw",
                "--numjobs", "2", "--pin", "off", "--output", json.toString(), "--write_lat_log", prefix,
                "--write_iops_log", prefix, "--write_bw_log", prefix, "--log_offset", "1");
        assertEquals(0, r.exitCode(), r.err() + r.out());
        Object doc = MiniJson.parse(Files.readString(json));
        long ios = ((Double) MiniJson.at(doc, "jobs", 0, "read", "total_ios")).longValue()
                + ((Double) MiniJson.at(doc, "jobs", 0, "write", "total_ios")).longValue();
        Pattern withOffset = shape(resource("fio-3.33/unit_lat.1.log"));
        for (String type : List.of("lat", "clat", "slat", "iops", "bw")) {
            long lines = 0;
            for (int job = 1; job <= 2; job++) {
                List<String> log = Files.readAllLines(Path.of(prefix + "_" + type + "." + job + ".log"));
                lines += log.size();
                for (String line : log) {
                    assertTrue(withOffset.matcher(line).matches(), type + ": '" + line + "' is not shaped like fio's");
                    String[] c = line.split(", ");
                    assertEquals("4096", c[3], line);
                    assertTrue(Long.parseLong(c[4]) % 4096 == 0 && Long.parseLong(c[4]) < 8L << 20, line);
                }
            }
            assertEquals(ios, lines, type + ": one entry per measured request");
        }
        assertEquals(prefix, MiniJson.at(doc, "jobs", 0, "job options", "write_lat_log"));

        String avg = dir.resolve("avg").toString();
        MqbRun a = MqbRun.of("run", "--runtime", "1s", "--ramp-time", "100ms", "--size", "8m", "--rw", "randrw",
                "--pin", "off", "--output", json.toString(), "--write_lat_log", avg, "--write_iops_log", avg,
                "--write_bw_log", avg, "--log_avg_msec", "200");
        assertEquals(0, a.exitCode(), a.err() + a.out());
        Pattern averaged = shape(resource("fio-3.33/avg_lat.1.log"));
        for (String type : List.of("lat", "clat", "slat", "iops", "bw")) {
            List<String> log = Files.readAllLines(Path.of(avg + "_" + type + ".1.log"));
            for (String line : log) {
                assertTrue(averaged.matcher(line).matches(), type + ": '" + line + "'");
                String[] c = line.split(", ");
                assertEquals("0", c[3], "averaged entries have block size 0, as fio's: " + line);
            }
            // 1 s in 200 ms windows, both directions: 5 per direction (the latency logs add the last, partial one)
            long reads = log.stream().filter(l -> l.split(", ")[2].equals("0")).count();
            assertTrue(reads >= 4 && reads <= 6, type + " has " + reads + " read windows in " + log.size() + " lines, from "
                    + log.subList(0, Math.min(6, log.size())));
        }
    }

    /** A regex of a fio log line's shape: as many comma-separated integer columns as the sample has. */
    static Pattern shape(String fioLog) {
        String first = fioLog.lines().findFirst().orElseThrow();
        int columns = first.split(", ").length;
        return Pattern.compile("\\d+(, \\d+){" + (columns - 1) + "}");
    }

    static String resource(String name) throws IOException {
        try (InputStream in = FioToolsTest.class.getClassLoader().getResourceAsStream(name)) {
            if (in == null) {
                throw new IOException("no test resource " + name);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    static String run(List<String> cmd, String what) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), what + " did not finish");
        assertEquals(0, p.exitValue(), what + ": " + out);
        return out;
    }
}
