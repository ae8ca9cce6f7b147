package org.mqblock.experiments.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.mqblock.experiments.MachineInfo;
import org.mqblock.experiments.MiniJson;

/**
 * Our JSON against real fio 3.33 json+ files (test resources, recorded with the commands in their
 * README): the same keys at every level where fio's meaning applies, values of the same JSON type,
 * and the differences we make on purpose named here, not found by a reader.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class FioCompatibilityTest {

    /** Top level: no host disk of ours to report; ours adds what fio has no key for. */
    static final Set<String> TOP_ONLY_FIO = Set.of("disk_util");
    static final Set<String> TOP_ONLY_OURS = Set.of("mqblock", "interrupted");
    /**
     * Per job: getrusage counts (ctx, majf, minf) we do not take for JVM threads; submit/complete
     * depth histograms count an engine's batch sizes, which a virtqueue has not.
     */
    static final Set<String> JOB_ONLY_FIO = Set.of("ctx", "majf", "minf", "iodepth_submit", "iodepth_complete");

    static Map<?, ?> fioMixed;
    static Map<?, ?> fioRead;
    static Map<?, ?> oursMixed;
    static Map<?, ?> oursRead;

    @BeforeAll
    static void record() throws IOException {
        fioMixed = (Map<?, ?>) MiniJson.parse(resource("fio-3.33/fio-3.33-randrw.json"));
        fioRead = (Map<?, ?>) MiniJson.parse(resource("fio-3.33/fio-3.33-randread.json"));
        JobSpec s = JobSpec.defaults().toBuilder().times(1200, 100).size(8L << 20).pin(false).iodepth(8).build();
        oursMixed = (Map<?, ?>) MiniJson.parse(FioJson.write(JobRunner.run(s.toBuilder().rw(Rw.RANDRW).build()),
                MachineInfo.current(), System.currentTimeMillis()));
        oursRead = (Map<?, ?>) MiniJson.parse(FioJson.write(JobRunner.run(s.toBuilder().rw(Rw.RANDREAD).build()),
                MachineInfo.current(), System.currentTimeMillis()));
    }

    static String resource(String name) throws IOException {
        try (InputStream in = FioCompatibilityTest.class.getClassLoader().getResourceAsStream(name)) {
            if (in == null) {
                throw new IOException("no test resource " + name);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @Test
    void topLevelAndJobKeysMatchFiosBarTheNamedDifferences() {
        for (Map<?, ?>[] pair : new Map<?, ?>[][] {{fioMixed, oursMixed}, {fioRead, oursRead}}) {
            sameKeys("top level", pair[0], pair[1], TOP_ONLY_FIO, TOP_ONLY_OURS);
            Map<?, ?> fioJob = job(pair[0]);
            Map<?, ?> ourJob = job(pair[1]);
            sameKeys("jobs[0]", fioJob, ourJob, JOB_ONLY_FIO, Set.of());
            for (String k : List.of("read", "write", "trim", "sync", "iodepth_level", "latency_ns", "latency_us", "latency_ms")) {
                sameKeys(k, (Map<?, ?>) fioJob.get(k), (Map<?, ?>) ourJob.get(k), Set.of(), Set.of());
            }
            sameTypes("jobs[0]", fioJob, ourJob);
        }
    }

    /** fio writes percentiles (and json+ bins) for clat only where a direction has samples; so do we. */
    @Test
    void latencyObjectsCarryPercentilesAndBinsExactlyWhereFiosDo() {
        for (Map<?, ?>[] pair : new Map<?, ?>[][] {{fioMixed, oursMixed}, {fioRead, oursRead}}) {
            for (String dir : List.of("read", "write", "trim")) {
                for (String lat : List.of("slat_ns", "clat_ns", "lat_ns")) {
                    Map<?, ?> f = (Map<?, ?>) ((Map<?, ?>) job(pair[0]).get(dir)).get(lat);
                    Map<?, ?> o = (Map<?, ?>) ((Map<?, ?>) job(pair[1]).get(dir)).get(lat);
                    sameKeys(dir + "." + lat, f, o, Set.of(), Set.of());
                    if (f.containsKey("percentile")) {
                        sameKeys(dir + "." + lat + ".percentile", (Map<?, ?>) f.get("percentile"),
                                (Map<?, ?>) o.get("percentile"), Set.of(), Set.of());
                    }
                }
            }
        }
        Map<?, ?> emptyWrite = (Map<?, ?>) ((Map<?, ?>) job(oursRead).get("write")).get("clat_ns");
        assertFalse(emptyWrite.containsKey("bins") || emptyWrite.containsKey("percentile"), emptyWrite.toString());
    }

    /** Job options in fio's spelling: sizes as 4k/8m, times in seconds, booleans as 1; what fio-plot needs is there. */
    @Test
    void jobOptionsAreEchoedInFiosSpelling() {
        Map<?, ?> fio = (Map<?, ?>) job(fioMixed).get("job options");
        Map<?, ?> ours = (Map<?, ?>) job(oursMixed).get("job options");
        assertEquals("4k", fio.get("bs"));
        assertEquals("4k", ours.get("bs"));
        assertEquals("8m", ours.get("size"));
        assertEquals("1", ours.get("time_based"));
        assertEquals("1200ms", ours.get("runtime"));
        for (String k : List.of("name", "rw", "bs", "iodepth", "numjobs", "runtime", "size", "randseed", "ioengine")) {
            assertTrue(ours.get(k) instanceof String, k + " in " + ours);
        }
        assertFalse(ours.containsKey("verify"), "fio echoes verify only when it was set");
    }

    @Test
    void versionAndTimeHaveFiosShapes() {
        assertTrue(((String) fioMixed.get("fio version")).matches("fio-\\d+\\.\\d+"));
        assertTrue(((String) oursMixed.get("fio version")).matches("mqb-\\d+\\.\\d+"), (String) oursMixed.get("fio version"));
        String ctime = "[A-Z][a-z]{2} [A-Z][a-z]{2} [ 1-3]\\d \\d{2}:\\d{2}:\\d{2} \\d{4}";
        assertTrue(((String) fioMixed.get("time")).matches(ctime));
        assertTrue(((String) oursMixed.get("time")).matches(ctime), (String) oursMixed.get("time"));
        // 2023-11-02 12:00 UTC is the 1st, 2nd or 3rd in every zone: a one-digit day, space-padded as ctime pads it.
        assertTrue(FioJson.ctime(1_698_926_400_000L).matches("[A-Z][a-z]{2} Nov  [123] \\d{2}:\\d{2}:\\d{2} 2023"),
                FioJson.ctime(1_698_926_400_000L));
    }

    /** iodepth_level and latency_* are percentages that add up as fio's do (each within its floors). */
    @Test
    void distributionsArePercentagesOfAllRequests() {
        for (Map<?, ?> doc : List.of(fioMixed, oursMixed, oursRead)) {
            Map<?, ?> j = job(doc);
            double depth = sum((Map<?, ?>) j.get("iodepth_level"));
            double lat = sum((Map<?, ?>) j.get("latency_ns")) + sum((Map<?, ?>) j.get("latency_us"))
                    + sum((Map<?, ?>) j.get("latency_ms"));
            assertEquals(100.0, depth, 0.5, "iodepth_level of " + doc.get("fio version"));
            assertEquals(100.0, lat, 0.5, "latency buckets of " + doc.get("fio version"));
        }
        // iodepth 8: no request ever went out with more than 8 in flight (refills after a batch of
        // completions climb from 1 to 8, so the lower buckets fill too, unlike libaio's one-by-one reaping).
        Map<?, ?> depth = (Map<?, ?>) job(oursRead).get("iodepth_level");
        assertEquals(0.0, (Double) depth.get("16") + (Double) depth.get("32") + (Double) depth.get(">=64"), depth.toString());
        assertTrue((Double) depth.get("8") > 0, depth.toString());
    }

    /** bw/iops samples: the 500 ms windows of a 1.2 s run, their mean the measured rate within a third. */
    @Test
    void bandwidthAndIopsStatisticsComeFromWindows() {
        Map<?, ?> read = (Map<?, ?>) job(oursRead).get("read");
        double samples = (Double) read.get("iops_samples");
        assertEquals(2.0, samples, "1.2 s at 500 ms: two full windows, one job");
        assertEquals((Double) read.get("bw_samples"), samples);
        double iops = (Double) read.get("iops");
        double mean = (Double) read.get("iops_mean");
        assertTrue(mean > iops / 1.5 && mean < iops * 1.5, "iops " + iops + " mean of windows " + mean);
        assertTrue((Double) read.get("iops_min") <= mean && mean <= (Double) read.get("iops_max"));
        Map<?, ?> write = (Map<?, ?>) job(oursRead).get("write");
        assertEquals(0.0, (Double) write.get("iops_samples"), "a direction without I/O has no samples");
    }

    static Map<?, ?> job(Map<?, ?> doc) {
        return (Map<?, ?>) ((List<?>) doc.get("jobs")).get(0);
    }

    static double sum(Map<?, ?> m) {
        return m.values().stream().mapToDouble(v -> (Double) v).sum();
    }

    static void sameKeys(String where, Map<?, ?> fio, Map<?, ?> ours, Set<String> onlyFio, Set<String> onlyOurs) {
        Set<Object> missing = new TreeSet<>(fio.keySet().stream().map(Object::toString).toList());
        missing.removeAll(ours.keySet());
        missing.removeAll(onlyFio);
        Set<Object> extra = new TreeSet<>(ours.keySet().stream().map(Object::toString).toList());
        extra.removeAll(fio.keySet());
        extra.removeAll(onlyOurs);
        if (where.equals("jobs[0]") || where.equals("top level")) {
            extra.remove("job options"); // present in both; listed for clarity
        }
        assertTrue(missing.isEmpty() && extra.isEmpty(), where + ": missing " + missing + ", extra " + extra);
    }

    /** Every key both have holds the same kind of JSON value (object, array, string, number, boolean). */
    static void sameTypes(String where, Object fio, Object ours) {
        List<String> wrong = new ArrayList<>();
        types(where, fio, ours, wrong);
        assertTrue(wrong.isEmpty(), String.join("; ", wrong));
    }

    private static void types(String where, Object fio, Object ours, List<String> wrong) {
        if (fio == null || ours == null) {
            return;
        }
        if (kind(fio) != kind(ours)) {
            wrong.add(where + ": fio " + kind(fio) + ", ours " + kind(ours));
            return;
        }
        if (fio instanceof Map<?, ?> f && !where.endsWith("job options") && !where.endsWith("bins")
                && !where.endsWith("percentile")) {
            Map<?, ?> o = (Map<?, ?>) ours;
            for (Object k : f.keySet()) {
                types(where + "." + k, f.get(k), o.get(k), wrong);
            }
        }
    }

    private static String kind(Object v) {
        return v instanceof Map ? "object" : v instanceof List ? "array" : v instanceof String ? "string"
                : v instanceof Boolean ? "boolean" : "number";
    }
}
