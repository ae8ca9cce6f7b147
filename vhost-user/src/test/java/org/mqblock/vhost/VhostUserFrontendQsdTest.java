package org.mqblock.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.mqblock.virtio.Vring;
import org.mqblock.virtio.VirtioBlkSpec;

/**
 * The front-end against QEMU's own vhost-user-blk export (qemu-storage-daemon): what it
 * negotiates, and that data written over two queues reads back exactly, each request completing
 * once, with and without EVENT_IDX, with interrupts and polling, over both of QEMU's AIO engines,
 * and with guest RAM in one memfd or two (a queue's rings and buffers in each: SET_MEM_TABLE with two
 * regions at guest addresses 4 GiB apart).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class VhostUserFrontendQsdTest {

    private static final int BS = 4096;

    @BeforeAll
    static void needsQsd() {
        QemuStorageDaemon.assumeInstalled();
    }

    @Test
    void negotiatesTheDiskQemuExports() throws Exception {
        long size = 64L << 20;
        try (QemuStorageDaemon qsd = QemuStorageDaemon.nullCo(size, true, 2);
             VhostUserFrontend f = VhostUserFrontend.connect(qsd.socket(), VhostUserFrontend.Options.builder().build())) {
            assertEquals(size, f.config().capacityBytes(), "capacity from GET_CONFIG");
            assertEquals(2, f.queueCount(), "every queue the export has");
            assertEquals(2, f.config().numQueues());
            assertTrue(VhostUser.has(f.features(), Vring.F_VERSION_1));
            assertTrue(VhostUser.has(f.features(), Vring.F_EVENT_IDX), "QEMU offers EVENT_IDX: " + Long.toHexString(f.backendFeatures()));
            assertTrue(VhostUser.has(f.protocolFeatures(), VhostUser.PF_REPLY_ACK));
            assertTrue(VhostUser.has(f.protocolFeatures(), VhostUser.PF_CONFIG));
            assertEquals(qsd.pid(), f.backendPid(), "SO_PEERCRED names the daemon");
            System.out.printf("qsd: features 0x%x, protocol 0x%x, queue num %d, %s%n", f.backendFeatures(),
                    f.backendProtocolFeatures(), f.backendQueueNum(), f.config());
        }
    }

    /**
     * Writes every block of a raw file in /dev/shm over two queues, reads each back over the
     * other queue and compares; each request completes exactly once, and at close the backend's
     * avail index for each queue is the number of requests that queue made.
     */
    @ParameterizedTest(name = "aio={0} eventIdx={1} polling={2} indirect={3} regions={4}")
    @CsvSource({"threads,true,false,true,1", "io_uring,true,false,true,1", "threads,false,false,true,1",
                "threads,true,true,true,1", "threads,true,false,false,1", "threads,true,false,true,2"})
    void writtenBlocksReadBackExactlyOverTwoQueues(String aio, boolean eventIdx, boolean polling, boolean indirect,
                                                   int regions) throws Exception {
        long blocks = 2048; // 8 MiB
        Path image = Files.createTempFile(Path.of("/dev/shm"), "mqb-fe-", ".img");
        try {
            try (RandomAccessFile raf = new RandomAccessFile(image.toFile(), "rw")) {
                raf.setLength(blocks * BS);
            }
            try (QemuStorageDaemon qsd = QemuStorageDaemon.file(image, aio, 2)) {
                VhostUserFrontend.Options o = VhostUserFrontend.Options.builder().slots(32).maxBytes(BS)
                        .eventIdx(eventIdx).polling(polling).indirect(indirect).regions(regions)
                        .completionTimeoutMs(20_000).build();
                VhostUserFrontend f = VhostUserFrontend.connect(qsd.socket(), o);
                long[] made = new long[2];
                try {
                    assertEquals(eventIdx, VhostUser.has(f.features(), Vring.F_EVENT_IDX));
                    FrontendDriver.Pass[] w = FrontendDriver.pass(f, VirtioBlkSpec.T_OUT, blocks, BS, 32, 1, false);
                    FrontendDriver.assertEachBlockOnce(w, blocks);
                    FrontendDriver.Pass[] r = FrontendDriver.pass(f, VirtioBlkSpec.T_IN, blocks, BS, 32, 1, true);
                    FrontendDriver.assertEachBlockOnce(r, blocks);
                    for (int q = 0; q < 2; q++) {
                        made[q] = f.queue(q).completions();
                        assertEquals(blocks, made[q], "queue " + q + ": half the blocks written, half read");
                    }
                } finally {
                    f.close();
                }
                for (int q = 0; q < 2; q++) {
                    assertEquals(made[q] & 0xffff, f.vringBaseAtClose(q), "queue " + q
                            + ": GET_VRING_BASE is the avail index: the backend took each request once");
                }
                assertTrue(qsd.isAlive(), qsd.log());
            }
            // And the file itself holds what was written (QEMU wrote it, not a cache of ours).
            byte[] got = Files.readAllBytes(image);
            for (long b = 0; b < blocks; b += 97) {
                byte[] want = FrontendDriver.pattern(b, 1, BS);
                assertTrue(java.util.Arrays.equals(want, 0, BS, got, (int) (b * BS), (int) (b * BS) + BS),
                        "block " + b + " in the image file");
            }
        } finally {
            Files.deleteIfExists(image);
        }
    }

    /** Past 2^16 requests on a queue the 16-bit ring indices wrap; nothing is lost or doubled there. */
    @Test
    void nothingLostOrDuplicatedAcrossIndexWrap() throws Exception {
        long blocks = 70_000 * 2L;
        try (QemuStorageDaemon qsd = QemuStorageDaemon.nullCo(blocks * 512, true, 2)) {
            VhostUserFrontend f = VhostUserFrontend.connect(qsd.socket(),
                    VhostUserFrontend.Options.builder().slots(128).maxBytes(512).build());
            try {
                FrontendDriver.Pass[] r = FrontendDriver.pass(f, VirtioBlkSpec.T_IN, blocks, 512, 128, 0, false);
                FrontendDriver.assertEachBlockOnce(r, blocks);
            } finally {
                f.close();
            }
            assertEquals(70_000 & 0xffff, f.vringBaseAtClose(0));
            assertEquals(70_000 & 0xffff, f.vringBaseAtClose(1));
        }
    }
}
