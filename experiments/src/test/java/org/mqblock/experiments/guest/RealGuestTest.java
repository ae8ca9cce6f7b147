package org.mqblock.experiments.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.AfterParameterizedClassInvocation;
import org.junit.jupiter.params.BeforeParameterizedClassInvocation;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;
import org.opentest4j.TestAbortedException;

/**
 * A real Linux guest (Debian's kernel under QEMU TCG, its own virtio_blk driver, fio) on a
 * vhost-user-blk export with 2 virtqueues: our {@code mqb serve --export vhost-user-blk} on 2
 * IOThreads, and qemu-storage-daemon as the control, so that a harness bug is told apart from an
 * export bug (the same tests, the same guest).
 *
 * <p>Per export, two boots against the same running export: the first guest writes and verifies
 * with fio from both queues, discards, writes zeroes, trims and flushes; the second verifies what
 * the first wrote; then the export is stopped and the host reads the image. The boots are the
 * expensive part (~15-60 s each under TCG on a busy 2-core machine): this class boots four guests
 * in all, two while ours is not in the build.
 */
@ParameterizedClass(name = "{0}")
@EnumSource(RealGuestTest.Export.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 400, unit = TimeUnit.SECONDS)
class RealGuestTest {

    enum Export { MQB, QSD }

    static final int QUEUES = 2;
    static final long IMAGE_BYTES = 64L << 20;
    /** The fio write+verify job: 2 jobs, one per guest CPU, each on its own 24 MiB region. */
    static final String WRITE_JOB = "--name=wv --filename=/dev/vda --ioengine=libaio --direct=1 --iodepth=16"
            + " --rw=randwrite --bsrange=512-128k --size=24m --offset_increment=24m --numjobs=2 --cpus_allowed=0-1"
            + " --cpus_allowed_policy=split --verify=crc32c --verify_fatal=1 --randseed=1313 --eta=never";
    static final int WRITTEN_MIB = 48;

    /** The first guest: queues, write+verify with flushes, discard, write-zeroes, trim, sync. */
    static final String FIRST = """
            mqb_result limits mqb_limits vda
            # flushes reach the device only while the guest thinks it has a volatile cache
            if [ "$(cat /sys/block/vda/queue/write_cache)" != "write back" ]; then
              echo "write back" > /sys/block/vda/cache_type
            fi
            mqb_result write-cache cat /sys/block/vda/queue/write_cache
            mqb_result irq-before grep virtio /proc/interrupts
            mqb_result stat-before mqb_stat vda
            fio %s --fsync=32 --output-format=json --output=/tmp/wv.json > /tmp/wv.err 2>&1
            echo "$?" > /tmp/wv.rc
            mqb_print fio-write /tmp/wv.json
            mqb_print fio-write-stderr /tmp/wv.err
            mqb_result irq-after grep virtio /proc/interrupts
            mqb_result sum-written sh -c 'dd if=/dev/vda bs=1M count=%d iflag=direct 2>/dev/null | sha256sum'
            # 48..56 MiB: random data, then 4 MiB discarded and 4 MiB zeroed (read back: zeroes)
            dd if=/dev/urandom of=/dev/vda bs=1M seek=48 count=8 oflag=direct conv=fsync 2>/dev/null
            mqb_result discard /bin/blkdiscard -o $((48 << 20)) -l $((4 << 20)) /dev/vda
            mqb_result write-zeroes /bin/blkdiscard -z -o $((52 << 20)) -l $((4 << 20)) /dev/vda
            mqb_result sum-zeroed sh -c 'dd if=/dev/vda bs=1M skip=52 count=4 iflag=direct 2>/dev/null | sha256sum'
            mqb_result sum-zero sh -c 'dd if=/dev/zero bs=1M count=4 2>/dev/null | sha256sum'
            # 56..60 MiB: fio's trim, 64 requests of 64 KiB
            fio --name=trim --filename=/dev/vda --ioengine=libaio --direct=1 --iodepth=4 --rw=randtrim --bs=64k \\
                --offset=56m --size=4m --eta=never --output-format=json --output=/tmp/trim.json > /tmp/trim.err 2>&1
            echo "$?" >> /tmp/wv.rc
            mqb_print fio-trim /tmp/trim.json
            sync
            mqb_result stat-after mqb_stat vda
            mqb_result rc cat /tmp/wv.rc
            """.formatted(WRITE_JOB, WRITTEN_MIB);

    /** The second guest: the same job in verify_only mode, and the same checksum. */
    static final String SECOND = """
            mqb_result limits mqb_limits vda
            mqb_result sum-written sh -c 'dd if=/dev/vda bs=1M count=%d iflag=direct 2>/dev/null | sha256sum'
            fio %s --verify_only --output-format=json --output=/tmp/v.json > /tmp/v.err 2>&1
            rc=$?
            mqb_print fio-verify /tmp/v.json
            mqb_print fio-verify-stderr /tmp/v.err
            exit $rc
            """.formatted(WRITTEN_MIB, WRITE_JOB);

    @Parameter
    Export export;
    private Path dir;
    private Path img;
    private VhostUserExport backend;
    private GuestImage image;
    /** Why this export's tests are skipped here (null: they run). */
    private String skip;
    /** The first guest's run, for the second and the host check (null when it did not finish). */
    private GuestRun first;
    private GuestRun second;

    /**
     * Starts the export; when this one cannot run here, says why in {@link #skip} instead, which
     * each test assumes away (a container-level abort would not show in surefire's report).
     */
    @BeforeParameterizedClassInvocation
    void startExport() throws IOException {
        // PER_CLASS: one instance serves every invocation, so each starts from a clean slate
        skip = null;
        dir = null;
        img = null;
        backend = null;
        first = null;
        second = null;
        try {
            image = GuestTestSupport.image();
        } catch (TestAbortedException e) {
            skip = e.getMessage();
            return;
        }
        if (export == Export.MQB && !VhostUserExport.mqbAvailable()) {
            skip = VhostUserExport.mqbUnavailableReason();
            return;
        }
        dir = Files.createTempDirectory("real-guest-" + export.name().toLowerCase() + "-");
        img = dir.resolve("disk.img");
        if (export == Export.QSD) {
            try (var ch = java.nio.channels.FileChannel.open(img, java.nio.file.StandardOpenOption.CREATE_NEW,
                    java.nio.file.StandardOpenOption.WRITE)) {
                ch.truncate(IMAGE_BYTES);
                ch.write(java.nio.ByteBuffer.wrap(new byte[] {0}), IMAGE_BYTES - 1);
            }
        }
        Path sock = dir.resolve("vhost-user-blk.sock");
        backend = switch (export) {
            // The thin format, because our device offers DISCARD only over a backend that discards,
            // and the raw file driver ignores discards (it cannot punch holes without native code).
            case MQB -> VhostUserExport.mqb("driver=thin,filename=" + img + ",size=" + IMAGE_BYTES, sock, QUEUES, 2,
                    List.of(), dir.resolve("mqb-serve.log"));
            case QSD -> VhostUserExport.qsd(img, sock, QUEUES, GuestDisk.Aio.IO_URING, true, dir.resolve("qsd.log"));
        };
    }

    @AfterParameterizedClassInvocation
    void stopExport() throws IOException {
        if (backend != null) {
            backend.close();
        }
        // the directory stays when a test failed: its consoles and the export's log explain it
        if (dir != null && first != null && first.ok() && second != null && second.ok()) {
            try (var files = Files.walk(dir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private GuestRun boot(String name, String script) throws IOException {
        GuestRun r = GuestVm.builder(image).name(name).disk(backend.disk()).cpus(QUEUES).script(script)
                .timeout(Duration.ofSeconds(300)).workDir(dir).build().run();
        assertTrue(backend.alive(), export + " exited while the guest ran:\n" + backend.logTail());
        return r;
    }

    @Test
    @Order(1)
    void firstGuestWritesAndVerifiesOnTwoQueuesAndDiscardsZeroesTrimsFlushes() throws IOException {
        Assumptions.assumeTrue(skip == null, skip);
        GuestRun r = boot("first", FIRST);
        first = r;
        String where = " (" + export + "; console " + r.console() + ", export log " + backend.log() + ")";
        assertEquals(0, r.status(), "the guest's test failed" + where);
        assertEquals(List.of(), r.errors(), "/init reported errors" + where);

        Map<String, Long> limits = numbers(r.section("limits"));
        assertEquals(QUEUES, limits.get("queues"), "blk-mq hardware queues under /sys/block/vda/mq" + where);
        assertEquals(512, limits.get("logical_block_size"), where);
        assertEquals(IMAGE_BYTES, limits.get("size_bytes"), where);
        assertTrue(limits.get("discard_max_bytes") > 0, "the export offers discard" + where);
        assertTrue(limits.get("write_zeroes_max_bytes") > 0, "the export offers write-zeroes" + where);
        assertEquals("write back", r.section("write-cache").trim(), where);
        assertEquals("0\n0\n", r.section("rc"), "fio's exit statuses (write+verify, trim)" + where
                + "\n" + r.sections().get("fio-write-stderr"));

        FioReport wv = FioReport.parse(r.section("fio-write"));
        assertEquals(0, wv.errors(), "fio write+verify reported errors" + where);
        assertTrue(wv.writeIos() > 0 && wv.readIos() > 0, "fio wrote and read back to verify: " + wv + where);

        Map<String, Long> before = interrupts(r.section("irq-before"));
        Map<String, Long> after = interrupts(r.section("irq-after"));
        for (int q = 0; q < QUEUES; q++) {
            String vq = "req." + q;
            assertTrue(after.getOrDefault(vq, 0L) > before.getOrDefault(vq, 0L),
                    "virtqueue " + q + " completed requests of the two-job write (its interrupt count went up): "
                            + before + " -> " + after + where);
        }

        assertEquals("", r.section("discard").trim(), "blkdiscard" + where);
        assertEquals("", r.section("write-zeroes").trim(), "blkdiscard -z" + where);
        assertEquals(r.section("sum-zero"), r.section("sum-zeroed"), "blkdiscard -z left zeroes" + where);
        FioReport trim = FioReport.parse(r.section("fio-trim"));
        assertEquals(0, trim.errors(), where);
        assertEquals(64, trim.trimIos(), "4 MiB in 64 KiB trims" + where);

        Map<String, Long> s0 = numbers(r.section("stat-before"));
        Map<String, Long> s1 = numbers(r.section("stat-after"));
        assertTrue(s1.get("flush_ios") > s0.get("flush_ios"), "flushes reached the device: " + s0 + " -> " + s1 + where);
        assertTrue(s1.get("discard_ios") - s0.get("discard_ios") >= 65, "blkdiscard's and fio's 64 discards: "
                + s0 + " -> " + s1 + where);
        assertTrue(r.poweredOff(), "the guest powered off by itself" + where);
    }

    @Test
    @Order(2)
    void secondGuestOnTheSameExportVerifiesWhatTheFirstWrote() throws IOException {
        Assumptions.assumeTrue(skip == null, skip);
        Assumptions.assumeTrue(first != null && first.status() == 0, "the first guest did not finish its test");
        GuestRun r = boot("second", SECOND);
        second = r;
        String where = " (" + export + "; console " + r.console() + ")";
        assertEquals(0, r.status(), "fio verify_only failed" + where + "\n" + r.sections().get("fio-verify-stderr"));
        assertEquals(QUEUES, numbers(r.section("limits")).get("queues"), where);
        FioReport v = FioReport.parse(r.section("fio-verify"));
        assertEquals(0, v.errors(), where);
        assertTrue(v.readIos() > 0, "verify_only read the blocks back: " + v + where);
        assertEquals(first.section("sum-written"), r.section("sum-written"),
                "the second guest reads what the first wrote" + where);
    }

    @Test
    @Order(3)
    void hostReadsWhatTheGuestsSawAfterTheExportStops() throws Exception {
        Assumptions.assumeTrue(skip == null, skip);
        Assumptions.assumeTrue(first != null && first.status() == 0, "the first guest did not finish its test");
        backend.close();
        assertNotNull(first.section("sum-written"));
        assertEquals(first.section("sum-written").trim().split("\\s+")[0], sha256(0, WRITTEN_MIB << 20),
                "the image on the host holds what the guest wrote (" + export + ")");
        assertEquals(first.section("sum-zero").trim().split("\\s+")[0], sha256(52L << 20, 4 << 20),
                "the zeroed range is zero on the host (" + export + ")");
    }

    /** The image's bytes as a reader on the host sees them: raw for qsd, through the thin format for ours. */
    private String sha256(long offset, long length) throws Exception {
        if (export == Export.QSD) {
            return sha256(img, offset, length);
        }
        try (org.mqblock.block.driver.BlockDriver d = org.mqblock.block.BlockDrivers.open(
                org.mqblock.block.BlockOptions.parse("driver=thin,filename=" + img))) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate((int) length);
            d.readBlocking(offset, b);
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b.array()));
        }
    }

    static String sha256(Path file, long offset, long length) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        try (InputStream in = Files.newInputStream(file)) {
            in.skipNBytes(offset);
            byte[] buf = new byte[1 << 16];
            long left = length;
            while (left > 0) {
                int n = in.read(buf, 0, (int) Math.min(buf.length, left));
                if (n < 0) {
                    break;
                }
                md.update(buf, 0, n);
                left -= n;
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** "key value" lines (mqb_limits, mqb_stat) by key; values that are not numbers are left out. */
    static Map<String, Long> numbers(String section) {
        Map<String, Long> m = new LinkedHashMap<>();
        for (String line : section.lines().toList()) {
            String[] f = line.trim().split("\\s+");
            if (f.length == 2 && f[1].matches("-?\\d+")) {
                m.put(f[0], Long.parseLong(f[1]));
            }
        }
        return m;
    }

    /** /proc/interrupts lines of the virtio disk, summed over CPUs, by queue ("req.0", "config"). */
    static Map<String, Long> interrupts(String section) {
        Map<String, Long> m = new LinkedHashMap<>();
        for (String line : section.lines().toList()) {
            String[] f = line.trim().split("\\s+");
            String name = f[f.length - 1];
            int dash = name.indexOf('-');
            if (dash < 0) {
                continue;
            }
            long sum = 0;
            for (int i = 1; i < f.length && f[i].matches("\\d+"); i++) {
                sum += Long.parseLong(f[i]);
            }
            m.put(name.substring(dash + 1), sum);
        }
        return m;
    }
}
