package org.mqblock.experiments;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.mqblock.experiments.guest.GuestTestSupport;
import org.mqblock.experiments.guest.VhostUserExport;

/** {@code mqb guest}: its options, and one short run on qsd and in-process virtio-blk (two boots). */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GuestCommandTest {

    @Test
    void badOptionsAreNamed() {
        String[][] cases = {
            {"--backend nbd", "unknown backend 'nbd'"},
            {"--queues 0", "--queues"},
            {"--queues 2 --cpus 1", "--cpus"},
            {"--cache maybe", "--cache"},
            {"--aio posix", "posix"},
            {"--job rw=rand;reboot", "--job"},
            {"--size 1x", "--size"},
        };
        for (String[] c : cases) {
            List<String> args = new java.util.ArrayList<>(List.of("guest"));
            args.addAll(List.of(c[0].split(" ")));
            MqbRun r = MqbRun.of(args.toArray(String[]::new));
            assertNotEquals(0, r.exitCode(), c[0] + ": " + r.out());
            assertTrue(r.err().contains(c[1]), c[0] + " should name " + c[1] + ": " + r.err());
        }
    }

    @Test
    void ourBackendFailsClearlyUntilTheExportLands(@TempDir Path dir) {
        Assumptions.assumeFalse(VhostUserExport.mqbAvailable(), "our vhost-user-blk export is in this build");
        MqbRun r = MqbRun.of("guest", "--backend", "mqb,qsd", "--output", dir.toString());
        assertEquals(1, r.exitCode(), r.out() + r.err());
        assertTrue(r.err().contains("no vhost-user-blk export yet") && r.err().contains("--backend qsd,virtio-blk"),
                r.err());
    }

    @Test
    @Timeout(value = 400, unit = TimeUnit.SECONDS)
    void aShortRunOnQsdAndVirtioBlkRecordsIopsCpuPerIoAndTheMachine(@TempDir Path dir) throws Exception {
        GuestTestSupport.image(); // skips where QEMU is absent
        MqbRun r = MqbRun.of("guest", "--backend", "qsd,virtio-blk", "--repeat", "1", "--job", "runtime=3",
                "--warmup", "0", "--size", "64m", "--output", dir.toString());
        assertEquals(0, r.exitCode(), r.out() + r.err());
        List<String> csv = Files.readAllLines(dir.resolve("guest.csv"));
        assertEquals(3, csv.size(), "a header and one row per boot: " + csv);
        List<String> cols = List.of(csv.get(0).split(","));
        for (String row : csv.subList(1, 3)) {
            String[] f = row.split(",", -1);
            assertTrue(Double.parseDouble(f[cols.indexOf("iops")]) > 0, row);
            assertTrue(Long.parseLong(f[cols.indexOf("ios")]) > 0, row);
            assertTrue(Double.parseDouble(f[cols.indexOf("backend_us_per_io")]) > 0, "the backend's CPU was counted: " + row);
        }
        Object json = MiniJson.parse(Files.readString(dir.resolve("guest.json")));
        assertEquals(2.0, ((Number) MiniJson.at(json, "config", "queues")).doubleValue());
        assertTrue(((String) MiniJson.at(json, "qemu")).contains("QEMU emulator version"), json.toString());
        assertTrue(((Number) MiniJson.at(json, "machine", "nproc")).intValue() > 0);
        assertTrue(r.out().contains("backend us/IO counts:"), r.out());
    }
}
