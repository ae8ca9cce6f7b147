package org.mqblock.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mqblock.memory.TargetPage.TARGET_PAGE_SIZE;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.mqblock.core.loop.AioContext;
import org.mqblock.core.loop.BottomHalf;
import org.mqblock.core.loop.IOThread;

/** Pre-copy migration: rounds, budgets, the resend rule, and destination == source under writers. */
class LiveMigrationTest {

    private static final long RAM1_BASE = 0x1000_0000L;

    /** A source and a destination with the same RAM layout: ram0 at 0, ram1 higher up, MMIO between. */
    static final class Vm implements AutoCloseable {
        final AddressSpace as;
        final RamRegion ram0;
        final RamRegion ram1;
        final AioContext mmioCtx = new AioContext("mmio");

        Vm(String name, long ram0Size, long ram1Size, boolean withMmio) {
            as = new AddressSpace(name);
            ram0 = new RamRegion(name + "-ram0", ram0Size, 16, false); // 64 KiB chunks
            ram1 = new RamRegion(name + "-ram1", ram1Size, 16, false);
            as.map(0, ram0);
            as.map(RAM1_BASE, ram1);
            if (withMmio) {
                as.map(0x800_0000L, new MmioRegion(name + "-regs", 0x1000, mmioCtx, null,
                        TestSupport.writeOnly((o, v) -> { })));
            }
        }

        long pages() {
            return ram0.pages() + ram1.pages();
        }

        @Override
        public void close() {
            as.unmap(ram0);
            as.unmap(ram1);
            ram0.close();
            ram1.close();
            mmioCtx.close();
        }
    }

    private final List<AutoCloseable> toClose = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : toClose) {
            c.close();
        }
    }

    private Vm vm(String name, long ram0, long ram1, boolean mmio) {
        Vm vm = new Vm(name, ram0, ram1, mmio);
        toClose.add(vm);
        return vm;
    }

    private static void fill(Vm vm, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        Dma dma = Dma.forCpu(vm.as);
        for (int i = 0; i < 500; i++) {
            boolean first = rnd.nextBoolean();
            long size = first ? vm.ram0.size() : vm.ram1.size();
            long addr = (first ? 0 : RAM1_BASE) + rnd.nextLong(size - 8);
            dma.writeU64(addr, rnd.nextLong());
        }
    }

    @Test
    void anIdleGuestConvergesAfterOneRoundThatSendsEverything() {
        Vm src = vm("src", 256 * TARGET_PAGE_SIZE, 64 * TARGET_PAGE_SIZE, true);
        Vm dst = vm("dst", 256 * TARGET_PAGE_SIZE, 64 * TARGET_PAGE_SIZE, false);
        fill(src, 1);
        LiveMigration.Result r = new LiveMigration(src.as, dst.as, new LiveMigration.Params(1L << 30, 10, 0)).run();
        assertNull(r.mismatch(), r.mismatch());
        assertTrue(r.verified());
        assertTrue(r.converged());
        assertEquals(1, r.rounds().size());
        LiveMigration.RoundStats first = r.rounds().get(0);
        assertEquals(320, first.pagesSent(), "the first round sends every page");
        assertEquals(320L * TARGET_PAGE_SIZE, first.bytesSent());
        assertEquals(0, first.pagesRemaining());
        assertEquals(0, r.stopAndCopy().pagesSent());
        assertEquals(320, r.pagesTotal());
        assertEquals(-1, src.ram0.mismatch(dst.ram0));
        assertEquals(-1, src.ram1.mismatch(dst.ram1));
        assertFalse(src.ram0.isDirtyLogActive(DirtyClient.MIGRATION), "the log is stopped afterwards");
        assertFalse(src.as.writeGate().isPaused(), "writers resumed");
    }

    @Test
    void theBandwidthBudgetSpreadsTheFirstPassOverRounds() {
        Vm src = vm("src", 64 * TARGET_PAGE_SIZE, 36 * TARGET_PAGE_SIZE, false);
        Vm dst = vm("dst", 64 * TARGET_PAGE_SIZE, 36 * TARGET_PAGE_SIZE, false);
        fill(src, 2);
        LiveMigration.Params p = new LiveMigration.Params(10L * TARGET_PAGE_SIZE, 100, 30L * TARGET_PAGE_SIZE);
        LiveMigration.Result r = new LiveMigration(src.as, dst.as, p).run();
        assertTrue(r.verified(), r.mismatch());
        assertTrue(r.converged());
        assertEquals(7, r.rounds().size(), "100 pages, 10 per round, until 30 fit the downtime");
        for (int i = 0; i < 7; i++) {
            LiveMigration.RoundStats s = r.rounds().get(i);
            assertEquals(i, s.round());
            assertEquals(10, s.pagesSent());
            assertEquals(90 - 10 * i, s.pagesRemaining());
        }
        assertEquals(30, r.stopAndCopy().pagesSent());
        assertEquals(100, r.totalPagesSent());
    }

    /**
     * The race the resend rule is for, made deterministic: in round 1, between taking page P's
     * bit and copying it, the guest writes P. The bit is set again at once, the copy happens to
     * carry the new data, and round 2 sends P again anyway.
     */
    @Test
    void aPageWrittenAfterItsBitWasTakenButBeforeItWasCopiedIsSentAgain() {
        Vm src = vm("src", 32 * TARGET_PAGE_SIZE, 16 * TARGET_PAGE_SIZE, false);
        Vm dst = vm("dst", 32 * TARGET_PAGE_SIZE, 16 * TARGET_PAGE_SIZE, false);
        Dma guest = Dma.forCpu(src.as);
        long page = 5;
        long addr = page * TARGET_PAGE_SIZE + 64;
        List<Integer> copiedInRounds = new ArrayList<>();
        AtomicBoolean bitSetAgain = new AtomicBoolean();
        LiveMigration.Listener l = new LiveMigration.Listener() {
            @Override
            public void roundCompleted(LiveMigration.RoundStats s) {
                if (s.round() == 0) {
                    guest.writeU64(addr, 1); // dirty P for round 1
                }
            }

            @Override
            public void beforeCopy(int round, RamRegion source, long p) {
                if (source == src.ram0 && p == page) {
                    copiedInRounds.add(round);
                    if (round == 1) {
                        assertFalse(src.ram0.dirtyBitmap(DirtyClient.MIGRATION).getDirty(page), "round 1 took P's bit");
                        guest.writeU64(addr, 2);
                        bitSetAgain.set(src.ram0.dirtyBitmap(DirtyClient.MIGRATION).getDirty(page));
                    }
                }
            }
        };
        LiveMigration.Result r = new LiveMigration(src.as, dst.as, new LiveMigration.Params(1L << 20, 10, 0)).run(l);
        assertTrue(bitSetAgain.get(), "the write after the take set the bit again");
        assertEquals(List.of(0, 1, 2), copiedInRounds, "P sent in round 0, 1, and again in 2");
        assertEquals(1, r.rounds().get(1).pagesDirtied());
        assertEquals(1, r.rounds().get(2).pagesDirtied(), "round 2's sync found P dirty again");
        assertEquals(3, r.rounds().size());
        assertTrue(r.verified(), r.mismatch());
        assertEquals(2, dst.ram0.getU64(addr));
    }

    /** A write right after a page was copied leaves the destination stale until the next round resends it. */
    @Test
    void aPageWrittenAfterItWasCopiedIsStaleUntilResent() {
        Vm src = vm("src", 32 * TARGET_PAGE_SIZE, 16 * TARGET_PAGE_SIZE, false);
        Vm dst = vm("dst", 32 * TARGET_PAGE_SIZE, 16 * TARGET_PAGE_SIZE, false);
        Dma guest = Dma.forCpu(src.as);
        long addr = RAM1_BASE + 3 * TARGET_PAGE_SIZE;
        AtomicBoolean staleSeen = new AtomicBoolean();
        LiveMigration.Listener l = new LiveMigration.Listener() {
            @Override
            public void afterCopy(int round, RamRegion source, long p) {
                if (round == 0 && source == src.ram1 && p == 3) {
                    guest.writeU32(addr, 0xabcdef);
                    staleSeen.set(dst.ram1.getU32(3 * TARGET_PAGE_SIZE) != 0xabcdef);
                }
            }
        };
        LiveMigration.Result r = new LiveMigration(src.as, dst.as, new LiveMigration.Params(1L << 20, 10, 0)).run(l);
        assertTrue(staleSeen.get());
        assertEquals(1, r.rounds().get(1).pagesSent());
        assertTrue(r.verified(), r.mismatch());
        assertEquals(0xabcdef, dst.ram1.getU32(3 * TARGET_PAGE_SIZE));
    }

    /**
     * A guest dirtying 20 pages per round against a budget of 8 never fits a 4-page downtime: the
     * round limit forces stop-and-copy, which still ends with equal memory.
     */
    @Test
    void theRoundLimitForcesStopAndCopyWhenTheGuestOutrunsTheBandwidth() {
        Vm src = vm("src", 64 * TARGET_PAGE_SIZE, 16 * TARGET_PAGE_SIZE, false);
        Vm dst = vm("dst", 64 * TARGET_PAGE_SIZE, 16 * TARGET_PAGE_SIZE, false);
        Dma guest = Dma.forCpu(src.as);
        LiveMigration.Listener l = new LiveMigration.Listener() {
            @Override
            public void roundCompleted(LiveMigration.RoundStats s) {
                for (int i = 0; i < 20; i++) {
                    guest.writeU64((long) (3 * i + s.round()) * TARGET_PAGE_SIZE, s.round() * 100L + i);
                }
            }
        };
        LiveMigration.Params p = new LiveMigration.Params(8L * TARGET_PAGE_SIZE, 5, 4L * TARGET_PAGE_SIZE);
        LiveMigration.Result r = new LiveMigration(src.as, dst.as, p).run(l);
        assertFalse(r.converged());
        assertEquals(5, r.rounds().size());
        for (int i = 1; i < 5; i++) {
            assertEquals(20, r.rounds().get(i).pagesDirtied(), "round " + i);
            assertEquals(8, r.rounds().get(i).pagesSent());
        }
        assertEquals(20, r.stopAndCopy().pagesDirtied());
        assertTrue(r.stopAndCopy().pagesSent() > 20);
        assertEquals(0, r.stopAndCopy().pagesRemaining());
        assertTrue(r.verified(), r.mismatch());
    }

    /**
     * The property, under fire: vCPU threads write random sizes (1 to 8 bytes, bulk up to three
     * pages, straddling pages and chunks) at random addresses, and a device in an IOThread writes
     * through writable mappings and Dma, all through the whole migration. For many seeds, the
     * destination equals the source byte for byte at stop-and-copy, checked by the migration and
     * independently here while the writers are still paused.
     */
    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void destinationAlwaysEqualsSourceWhileWritersHammerRandomPages() throws Exception {
        int seeds = 12 * Stress.scale();
        long writesDuringMigration = 0;
        long roundsTotal = 0;
        for (int seed = 0; seed < seeds; seed++) {
            Vm src = vm("src" + seed, 256 * TARGET_PAGE_SIZE, 128 * TARGET_PAGE_SIZE, true);
            Vm dst = vm("dst" + seed, 256 * TARGET_PAGE_SIZE, 128 * TARGET_PAGE_SIZE, false);
            fill(src, seed);
            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong writes = new AtomicLong();
            Queue<Throwable> errors = new ConcurrentLinkedQueue<>();
            List<Thread> vcpus = new ArrayList<>();
            for (int t = 0; t < 2; t++) {
                final long s = seed * 31L + t;
                Thread th = new Thread(() -> {
                    try {
                        hammer(src, s, stop, writes);
                    } catch (Throwable e) {
                        errors.add(e);
                    }
                }, "vcpu-" + t);
                vcpus.add(th);
            }
            IOThread io = IOThread.start("io-dev-" + seed, IOThread.UNPINNED);
            Dma devDma = new Dma(src.as, io.context(), new ReentrancyGuard("dev"), DispatchPolicy.RELEASE_REACQUIRE);
            SplittableRandom devRnd = new SplittableRandom(seed);
            DmaMapping mapping = new DmaMapping();
            BottomHalf[] bh = new BottomHalf[1];
            bh[0] = io.context().newBottomHalf("dev-dma", () -> {
                try {
                    long a = devRnd.nextLong(src.ram0.size() - 3 * TARGET_PAGE_SIZE);
                    int n = devDma.map(a, 1 + devRnd.nextInt(3 * TARGET_PAGE_SIZE), true, mapping);
                    for (int i = 0; i + 8 <= n; i += 512) {
                        mapping.buffer().putLong(i, devRnd.nextLong());
                    }
                    devDma.unmap(mapping, n);
                    devDma.writeU16(RAM1_BASE + devRnd.nextLong(src.ram1.size() - 2), devRnd.nextInt());
                    writes.addAndGet(2);
                } catch (Throwable e) {
                    errors.add(e);
                    stop.set(true);
                }
                if (!stop.get()) {
                    bh[0].schedule();
                }
            });
            vcpus.forEach(Thread::start);
            bh[0].schedule();
            while (writes.get() < 2_000 && errors.isEmpty()) {
                Thread.onSpinWait();
            }

            long[] independentMismatch = {-2};
            LiveMigration.Params p = new LiveMigration.Params(16L * TARGET_PAGE_SIZE, 40, 8L * TARGET_PAGE_SIZE,
                    Duration.ofSeconds(30));
            long writesBefore = writes.get();
            // Odd seeds: a slow link. Each round lets the guest make 200 more writes before the
            // next sync, so every sync finds pages dirtied again and pre-copy hits the round limit.
            boolean slowLink = (seed & 1) == 1;
            LiveMigration.Result r = new LiveMigration(src.as, dst.as, p).run(new LiveMigration.Listener() {
                @Override
                public void roundCompleted(LiveMigration.RoundStats stats) {
                    long target = writes.get() + 200;
                    while (slowLink && writes.get() < target && errors.isEmpty()) {
                        Thread.yield();
                    }
                }

                @Override
                public void stopped(LiveMigration.Result result) {
                    independentMismatch[0] = compareWordByWord(src, dst);
                }
            });
            if (slowLink) {
                assertFalse(r.converged(), "seed " + seed + ": the guest outran a slow link");
                for (LiveMigration.RoundStats st : r.rounds().subList(1, r.rounds().size())) {
                    assertTrue(st.pagesDirtied() > 0, "seed " + seed + ": round " + st.round() + " found no dirty page");
                }
                assertTrue(r.stopAndCopy().pagesSent() > 0);
            }
            writesDuringMigration += writes.get() - writesBefore;
            roundsTotal += r.rounds().size();
            stop.set(true);
            for (Thread th : vcpus) {
                th.join();
            }
            CountDownLatch drained = new CountDownLatch(1);
            io.context().schedule(drained::countDown);
            drained.await();
            bh[0].delete();
            io.close();
            assertTrue(errors.isEmpty(), () -> "writer failed: " + errors.peek());
            assertTrue(r.verified(), "seed " + seed + ": " + r.mismatch());
            assertEquals(-1, independentMismatch[0], "seed " + seed + ": independent comparison under the pause");
            // Every page is sent at least once, and every further send is due to a bit a sync took.
            long taken = r.stopAndCopy().pagesDirtied();
            for (LiveMigration.RoundStats s : r.rounds()) {
                taken += s.pagesDirtied();
            }
            assertTrue(r.totalPagesSent() >= r.pagesTotal() && r.totalPagesSent() <= r.pagesTotal() + taken,
                    "seed " + seed + ": sent " + r.totalPagesSent() + ", pages " + r.pagesTotal() + ", taken " + taken);
            if (seed < 2) {
                System.out.println("migration under writers, seed " + seed + ": " + r.rounds().size() + " rounds, converged="
                        + r.converged() + ", stop-and-copy " + r.stopAndCopy() + ", total sent " + r.totalPagesSent()
                        + " of " + r.pagesTotal() + " pages");
            }
        }
        assertTrue(writesDuringMigration > 0, "the writers ran during the migrations");
        System.out.println("migration under writers: " + seeds + " seeds, " + roundsTotal + " rounds, "
                + writesDuringMigration + " guest writes during migration");
    }

    private static void hammer(Vm vm, long seed, AtomicBoolean stop, AtomicLong writes) {
        SplittableRandom rnd = new SplittableRandom(seed);
        Dma dma = Dma.forCpu(vm.as);
        byte[] buf = new byte[3 * TARGET_PAGE_SIZE];
        while (!stop.get()) {
            boolean first = rnd.nextInt(3) != 0;
            long base = first ? 0 : RAM1_BASE;
            long size = first ? vm.ram0.size() : vm.ram1.size();
            int kind = rnd.nextInt(6);
            if (kind < 4) {
                int width = 1 << kind;
                // A third of the scalar writes straddle a page boundary.
                long off = rnd.nextInt(3) == 0
                        ? Math.max(0, (1 + rnd.nextLong(size / TARGET_PAGE_SIZE - 1)) * TARGET_PAGE_SIZE - width / 2)
                        : rnd.nextLong(size - width);
                switch (width) {
                    case 1 -> dma.writeU8(base + off, rnd.nextInt());
                    case 2 -> dma.writeU16(base + off, rnd.nextInt());
                    case 4 -> dma.writeU32(base + off, rnd.nextInt());
                    default -> dma.writeU64(base + off, rnd.nextLong());
                }
            } else {
                int len = 1 + rnd.nextInt(buf.length);
                rnd.nextBytes(buf);
                dma.write(base + rnd.nextLong(size - len), buf, 0, len);
            }
            writes.incrementAndGet();
        }
    }

    /** A comparison that does not use RamRegion.mismatch: 8 bytes at a time through the accessors. */
    private static long compareWordByWord(Vm src, Vm dst) {
        for (long off = 0; off < src.ram0.size(); off += 8) {
            if (src.ram0.getU64(off) != dst.ram0.getU64(off)) {
                return off;
            }
        }
        for (long off = 0; off < src.ram1.size(); off += 8) {
            if (src.ram1.getU64(off) != dst.ram1.getU64(off)) {
                return RAM1_BASE + off;
            }
        }
        return -1;
    }

    @Test
    void layoutsMustMatchAndMmioIsNotMigrated() {
        Vm src = vm("src", 16 * TARGET_PAGE_SIZE, 16 * TARGET_PAGE_SIZE, true);
        Vm small = vm("small", 16 * TARGET_PAGE_SIZE, 8 * TARGET_PAGE_SIZE, false);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new LiveMigration(src.as, small.as, new LiveMigration.Params(1 << 20, 1, 0)));
        assertEquals("RAM layouts differ: source 'src' has RAM 'src-ram1' [0x10000000, 0x10010000) where destination"
                + " 'small' has RAM 'small-ram1' [0x10000000, 0x10008000)", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new LiveMigration(src.as, src.as, new LiveMigration.Params(1, 1, 0)));
        Vm dst = vm("dst", 16 * TARGET_PAGE_SIZE, 16 * TARGET_PAGE_SIZE, false);
        LiveMigration m = new LiveMigration(src.as, dst.as, new LiveMigration.Params(1 << 20, 1, 0));
        assertEquals(32, m.pagesTotal(), "the MMIO region counts no pages");
        assertTrue(m.run().verified());
        assertThrows(IllegalStateException.class, m::run, "runs once");
        assertThrows(IllegalArgumentException.class, () -> new LiveMigration.Params(0, 1, 0));
    }

    /** A writer that never leaves the gate makes stop-and-copy fail cleanly: log stopped, gate running. */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aStuckWriterFailsStopAndCopyAndLeavesTheSourceRunning() throws Exception {
        Vm src = vm("src", 16 * TARGET_PAGE_SIZE, 16 * TARGET_PAGE_SIZE, false);
        Vm dst = vm("dst", 16 * TARGET_PAGE_SIZE, 16 * TARGET_PAGE_SIZE, false);
        CountDownLatch mapped = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Queue<Throwable> errors = new ConcurrentLinkedQueue<>();
        Thread holder = new Thread(() -> {
            try {
                Dma dma = Dma.forCpu(src.as);
                DmaMapping m = new DmaMapping();
                dma.map(0, 8, true, m);
                mapped.countDown();
                TestSupport.await(release);
                m.buffer().putLong(0, 0x5eed);
                dma.unmap(m, 8); // the source runs: the stuck writer finishes its write
            } catch (Throwable e) {
                errors.add(e);
                mapped.countDown();
            }
        }, "stuck-device");
        holder.start();
        mapped.await();
        LiveMigration m = new LiveMigration(src.as, dst.as,
                new LiveMigration.Params(1 << 20, 3, 0, Duration.ofMillis(100)));
        IllegalStateException e = assertThrows(IllegalStateException.class, m::run);
        assertTrue(e.getMessage().contains("stuck-device"), e.getMessage());
        assertFalse(src.ram0.isDirtyLogActive(DirtyClient.MIGRATION));
        assertFalse(src.ram1.isDirtyLogActive(DirtyClient.MIGRATION));
        assertFalse(src.as.writeGate().isPaused());
        release.countDown();
        holder.join();
        assertTrue(errors.isEmpty(), () -> "the stuck writer failed: " + errors);
        assertEquals(0x5eed, src.ram0.getU64(0), "its write landed in the running source");
        src.as.writeGate().pause(Duration.ofSeconds(5)); // and nothing of it is left inside the gate
        src.as.writeGate().resume();
    }
}
