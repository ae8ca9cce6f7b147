package org.mqblock.memory;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mqblock.memory.TargetPage.TARGET_PAGE_SIZE;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Dirty tracking end to end, for private and shared RAM: vCPU threads write guest pages through
 * their {@link Dma}s (scalar stores, and bulk writes that cross pages and chunks and end a few
 * bytes into their last page) while a consumer takes both clients' bitmaps round by round and
 * checks, after every take, that no completed write was lost for either client ({@link
 * DirtyRounds}).
 */
class DmaDirtyTrackingTest {

    private static final long BASE = 0x10_0000;

    /** A vCPU: its own Dma and bulk buffer. */
    static final class Vcpu extends DirtyRounds.Writer {
        final Dma dma;
        final byte[] buf;
        final ByteBuffer le;

        Vcpu(int id, AddressSpace as, int maxPages) {
            super(id);
            dma = Dma.forCpu(as);
            buf = new byte[maxPages * TARGET_PAGE_SIZE];
            le = ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN);
        }
    }

    @ParameterizedTest
    @EnumSource(RamKind.class)
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void noWriteThroughDmaIsLostForAnyActiveClient(RamKind kind) throws Exception {
        int pages = 256;
        int group = 3;
        try (RamKind.Factory regions = new RamKind.Factory(kind)) {
            RamRegion ram = regions.create("ram", (long) pages * TARGET_PAGE_SIZE, 15); // 32 KiB chunks
            AddressSpace as = new AddressSpace("sys");
            as.map(BASE, ram);
            ram.startDirtyLog(DirtyClient.MIGRATION);
            ram.startDirtyLog(DirtyClient.DISPLAY);
            DirtyBitmap[] bms = {ram.dirtyBitmap(DirtyClient.MIGRATION), ram.dirtyBitmap(DirtyClient.DISPLAY)};
            DirtyRounds.Target target = new DirtyRounds.Target() {
                @Override
                public long pages() {
                    return pages;
                }

                @Override
                public DirtyRounds.Writer newWriter(int id) {
                    return new Vcpu(id, as, group);
                }

                @Override
                public void write(DirtyRounds.Writer w, long page, long gen) {
                    ((Vcpu) w).dma.writeU64(BASE + page * TARGET_PAGE_SIZE, gen);
                }

                /** One bulk write from the first page's start to 8 bytes into the last page. */
                @Override
                public void writeRange(DirtyRounds.Writer w, long first, int count, long gen) {
                    Vcpu v = (Vcpu) w;
                    for (int k = 0; k < count; k++) {
                        v.le.putLong(k * TARGET_PAGE_SIZE, gen);
                    }
                    v.dma.write(BASE + first * TARGET_PAGE_SIZE, v.buf, 0, (count - 1) * TARGET_PAGE_SIZE + 8);
                }

                @Override
                public long read(long page) {
                    return ram.getU64(page * TARGET_PAGE_SIZE);
                }

                @Override
                public DirtyBitmap[] bitmaps() {
                    return bms;
                }
            };
            DirtyRounds.Result r = DirtyRounds.run(target,
                    new DirtyRounds.Config(2, 150_000 * Stress.scale(), group, DirtyRounds.Take.RANGE));
            assertTrue(r.errors().isEmpty(), () -> "a thread failed: " + r.errors());
            assertNull(r.violation(), r.violation());
            assertTrue(r.concurrentRounds() > 0 && r.bitsTakenConcurrently() > 0,
                    "no round ran while the writers wrote: the property was not tested (" + r + ")");
            System.out.println("dirty tracking through Dma, " + kind + " RAM: " + r.concurrentRounds()
                    + " rounds checked while writing, " + r.bitsTakenConcurrently() + " bits taken");
            ram.stopDirtyLog(DirtyClient.MIGRATION);
            ram.stopDirtyLog(DirtyClient.DISPLAY);
            as.unmap(ram);
            ram.close();
        }
    }
}
