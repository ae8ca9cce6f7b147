package org.mqblock.experiments.figures;

import static org.mqblock.memory.TargetPage.TARGET_PAGE_SIZE;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.mqblock.experiments.jmh.memory.DirtyBitmaps;
import org.mqblock.experiments.job.JobResult;
import org.mqblock.experiments.job.JobRunner;
import org.mqblock.experiments.job.JobSpec;
import org.mqblock.memory.AddressSpace;
import org.mqblock.memory.Dma;
import org.mqblock.memory.LiveMigration;
import org.mqblock.memory.RamRegion;
import org.mqblock.virtio.GuestMemory;
import org.mqblock.virtio.VirtioBlkRig;

/**
 * F5: dirty-page tracking. (a) setDirty throughput of the atomic {@link
 * org.mqblock.memory.DirtyBitmap} against one lock around the bitmap, as writer threads grow,
 * with a consumer taking the bitmap every millisecond as migration does; (b) a guest job's IOPS
 * without and with live migrations of its RAM running back to back beside it; (c) per-round
 * pages of pre-copy, for that guest and for a RAM written at fixed dirty rates.
 *
 * <p>Migration bandwidth is modelled: after each round the migrating thread sleeps until the round
 * took as long as its bytes need on the link. Without it a copy at memory speed converges at any
 * dirty rate.
 */
final class F5DirtyTracking implements Figure {

    /** (a): a bitmap for 4 GiB of 4 KiB pages (a power of two, so a mask picks a random page). */
    static final long BITMAP_PAGES = 1L << 20;
    static final String[] BITMAPS = {"atomic", "synchronized"};
    static final long SYNC_PERIOD_NS = 1_000_000;

    /** (b): the guest's migration: 64 MiB/s link, 256 KiB rounds (4 ms), 512 KiB downtime budget. */
    static final long GUEST_LINK = 64L << 20;
    static final LiveMigration.Params GUEST_PARAMS = new LiveMigration.Params(256L << 10, 200, 512L << 10,
            Duration.ofSeconds(10));

    /** (c): 16 MiB of RAM written at fixed rates; 512 MiB/s link, 1 MiB rounds (2 ms). */
    static final long RATE_RAM = 16L << 20;
    static final long RATE_LINK = 512L << 20;
    static final LiveMigration.Params RATE_PARAMS = new LiveMigration.Params(1L << 20, 40, 512L << 10,
            Duration.ofSeconds(10));
    static final long[] DIRTY_RATES = {0, 25_000, 75_000, 150_000};

    @Override
    public String id() {
        return "F5";
    }

    @Override
    public String slug() {
        return "dirty-tracking";
    }

    @Override
    public String claim() {
        return "Atomic dirty bitmaps let writers mark pages without a lock: at the most writers this machine has CPUs"
                + " for (at least 2, beside the sync thread), the atomic bitmap marks >= 1.2x the pages per second of one"
                + " writer and >= 1.2x those of a synchronized bitmap; and live migration beside guest I/O converges and"
                + " verifies equal every time.";
    }

    @Override
    public Verdict judge(Table t, Sweep s) {
        List<Verdict> parts = new ArrayList<>();
        int n = t.select(r -> r[0].equals("a")).stream().mapToInt(r -> ((Number) r[2]).intValue())
                .filter(w -> w >= 2 && w + 1 <= s.cpus()).max().orElse(0);
        if (n == 0) {
            parts.add(Verdict.notTestable("(a) needs 2 writers and the sync thread on 3 CPUs; this machine has " + s.cpus()));
        } else {
            double atomic = t.mean("value", "part", "a", "series", "atomic", "x", n);
            parts.add(Verdict.atLeast("(a) atomic " + n + " writers/1", atomic / t.mean("value", "part", "a", "series",
                    "atomic", "x", 1), 1.2));
            parts.add(Verdict.atLeast("(a) atomic/synchronized at " + n + " writers", atomic / t.mean("value", "part", "a",
                    "series", "synchronized", "x", n), 1.2));
        }
        List<Object[]> migrating = t.select(r -> r[0].equals("b") && r[1].equals("migrating"));
        long runs = migrating.stream().mapToLong(r -> ((Number) r[8]).longValue()).sum();
        long converged = migrating.stream().mapToLong(r -> ((Number) r[9]).longValue()).sum();
        long verified = migrating.stream().mapToLong(r -> ((Number) r[10]).longValue()).sum();
        if (runs == 0) {
            parts.add(Verdict.notTestable("(b) no migration completed beside the guest"));
        } else {
            String what = "(b) " + runs + " migrations beside guest I/O: " + converged + " converged, " + verified + " verified";
            parts.add(converged == runs && verified == runs ? Verdict.supported(what) : Verdict.notSupported(what));
        }
        return Verdict.all(parts);
    }

    static int[] writers(boolean quick) {
        return quick ? new int[] {1, 2} : new int[] {1, 2, 4};
    }

    static int[] vcpus(boolean quick) {
        return quick ? new int[] {1} : new int[] {1, 2};
    }

    @Override
    public int steps(boolean quick) {
        return BITMAPS.length * writers(quick).length + 2 * vcpus(quick).length + DIRTY_RATES.length;
    }

    @Override
    public String expectedRuntime(boolean quick) {
        return quick ? "~10 s" : "~40 s";
    }

    @Override
    public List<String> columns() {
        return List.of("part", "series", "x", "value", "unit", "phase", "pages_sent", "pages_remaining", "migrations",
                "converged", "verified", "downtime_ms", "oversubscribed");
    }

    @Override
    public Outcome run(Sweep s) throws Exception {
        Table t = new Table(columns().toArray(String[]::new));
        List<String> findings = new ArrayList<>();
        Panel pa = Panel.lines("(a) setDirty, random pages of 4 GiB, sync every 1 ms", "writer threads",
                "M pages marked / s");
        Panel pb = Panel.bars("(b) guest 4k randread IOPS, mq, memory backend", "", "IOPS");
        Panel pc = Panel.lines("(c) pre-copy: pages left to send after each round", "round", "pages remaining");
        Panel pd = Panel.lines("(c) pre-copy: pages dirtied per round", "round", "pages dirtied since last sync");

        // (a)
        long ms = s.quick() ? 300 : 1_500;
        for (String impl : BITMAPS) {
            setDirtyRate(impl, 1, 300); // JIT warm-up, discarded
        }
        for (String impl : BITMAPS) {
            for (int n : writers(s.quick())) {
                double mps = setDirtyRate(impl, n, ms) / 1e6;
                // The sync thread runs beside the writers: n + 1 threads want a CPU.
                t.add("a", impl, n, mps, "M pages/s", "", "", "", "", "", "", "", n + 1 > s.cpus());
                s.log().printf("(a) %s, %d writers: %.1f M pages/s%n", impl, n, mps);
                s.step();
            }
            pa.series(impl, t, t.select(r -> r[0].equals("a") && r[1].equals(impl)), "x", "value", "oversubscribed");
        }
        int top = writers(s.quick())[writers(s.quick()).length - 1];
        findings.add(String.format(Locale.ROOT, "(a) setDirty with %d writers: atomic %.1f M pages/s = %s the"
                        + " synchronized bitmap; atomic %d writers vs 1: %s.", top, value(t, "a", "atomic", top),
                Jobs.fmtRatio(value(t, "a", "atomic", top) / value(t, "a", "synchronized", top)), top,
                Jobs.fmtRatio(value(t, "a", "atomic", top) / value(t, "a", "atomic", 1))));

        // (b), and the guest's rounds for (c)
        List<LiveMigration.Result> firstGuestMigration = new ArrayList<>();
        for (int n : vcpus(s.quick())) {
            JobSpec spec = Jobs.base(s).numjobs(n).build();
            JobResult plain = Jobs.run(s, "guest-" + n + "vcpu-no-migration", spec);
            MigrationLoop loop = new MigrationLoop();
            JobResult migrated = Jobs.run(s, "guest-" + n + "vcpu-migrating", spec, loop);
            if (loop.failure.get() != null) {
                throw new IllegalStateException("migration beside the guest failed: " + loop.failure.get(),
                        loop.failure.get());
            }
            List<LiveMigration.Result> rs = loop.results;
            long converged = rs.stream().filter(LiveMigration.Result::converged).count();
            long verified = rs.stream().filter(LiveMigration.Result::verified).count();
            double downMs = rs.stream().mapToLong(LiveMigration.Result::downtimeNanos).average().orElse(0) / 1e6;
            double pausedShare = rs.stream().mapToLong(LiveMigration.Result::downtimeNanos).sum()
                    / (double) migrated.runtimeNs();
            t.add("b", "no migration", n, plain.iops(), "IOPS", "", "", "", 0, 0, 0, "", n > s.cpus());
            t.add("b", "migrating", n, migrated.iops(), "IOPS", "", "", "", rs.size(), converged, verified, downMs,
                    2 * n + 1 > s.cpus());
            findings.add(String.format(Locale.ROOT, "(b) %d vCPU%s: %.0f IOPS with migration vs %.0f without (%s);"
                            + " %d back-to-back migrations of %d MiB guest RAM, %d converged, %d verified equal,"
                            + " mean %.0f pre-copy rounds, mean downtime %.2f ms (%.1f%% of the window paused,"
                            + " byte-for-byte verification included).", n, n == 1 ? "" : "s", migrated.iops(),
                    plain.iops(), Jobs.fmtRatio(migrated.iops() / plain.iops()), rs.size(), loop.ramBytes >> 20,
                    converged, verified, rs.stream().mapToInt(r -> r.rounds().size()).average().orElse(0), downMs,
                    100 * pausedShare));
            if (firstGuestMigration.isEmpty() && !rs.isEmpty()) {
                firstGuestMigration.add(rs.get(0));
            }
        }
        for (int n : vcpus(s.quick())) {
            pb.series(n + " vCPU" + (n == 1 ? "" : "s"), List.of("no migration", "migrating"),
                    List.of(value(t, "b", "no migration", n), value(t, "b", "migrating", n)));
        }

        // (c)
        if (!firstGuestMigration.isEmpty()) {
            LiveMigration.Result g = firstGuestMigration.get(0);
            addRounds(t, "guest job, 1 vCPU (" + (g.pagesTotal() * TARGET_PAGE_SIZE >> 20) + " MiB)", g);
        }
        for (long rate : DIRTY_RATES) {
            LiveMigration.Result r = migrateAtRate(rate);
            addRounds(t, rateLabel(rate), r);
            s.log().printf("(c) %s: %d rounds, converged %s, verified %s, downtime %.2f ms%n", rateLabel(rate),
                    r.rounds().size(), r.converged(), r.verified(), r.downtimeNanos() / 1e6);
            if (!r.verified()) {
                throw new IllegalStateException("(c) " + rateLabel(rate) + ": " + r.mismatch());
            }
            s.step();
            findings.add(String.format(Locale.ROOT, "(c) %s: %s after %d pre-copy rounds (%d of %d pages sent in"
                            + " all), stop-and-copy sent %d pages; destination verified equal.", rateLabel(rate),
                    r.converged() ? "converged" : "did not converge (round limit)", r.rounds().size(),
                    r.totalPagesSent(), r.pagesTotal(), r.stopAndCopy().pagesSent()));
        }
        for (String series : t.where("part", "c").stream().map(r -> (String) r[1]).distinct().toList()) {
            List<Object[]> rows = t.select(r -> r[0].equals("c") && r[1].equals(series));
            pc.series(series, t, rows, "x", "pages_remaining");
            pd.series(series, t, rows, "x", "value");
        }

        List<String> notes = new ArrayList<>();
        notes.add(top + 1 > s.cpus() ? "(a) This machine has " + s.cpus() + " CPUs: with the sync thread, points"
                + " from " + Math.max(1, s.cpus()) + " writers on are oversubscribed (threads share CPUs) and cannot"
                + " show scaling; run on a larger machine." : "");
        notes.add("(a) runs a consumer thread too, taking the whole bitmap every 1 ms as a migration sync would; the"
                + " synchronized bitmap holds its lock for that whole take. Random pages over one 128 KiB bitmap make"
                + " all writers share every cache line, the worst case for scaling.");
        notes.add("(b) migrates the rig's guest RAM back to back over a modelled 64 MiB/s link (256 KiB rounds,"
                + " 512 KiB downtime budget); every stop-and-copy pauses the guest and compares all of its RAM, which"
                + " a real migration would not. With 2 vCPUs the vCPUs, IOThreads and migrating thread outnumber "
                + s.cpus() + " CPUs.");
        notes.add("(c) fixed rates are one writer thread storing into random pages of 16 MiB; 512 MiB/s link,"
                + " 1 MiB rounds (2 ms), 512 KiB downtime budget, at most " + RATE_PARAMS.maxRounds() + " rounds.");
        return new Outcome(t, List.of(pa, pb, pc, pd), findings, notes);
    }

    private static String rateLabel(long rate) {
        return rate == 0 ? "idle RAM" : rate / 1000 + "k pages/s";
    }

    private static double value(Table t, String part, String series, int x) {
        return t.select(r -> r[0].equals(part) && r[1].equals(series) && ((Number) r[2]).intValue() == x).stream()
                .mapToDouble(r -> Table.number(r, 3)).findFirst().orElse(Double.NaN);
    }

    /** One row per pre-copy round and one for the stop-and-copy. */
    private static void addRounds(Table t, String series, LiveMigration.Result r) {
        int conv = r.converged() ? 1 : 0;
        int ver = r.verified() ? 1 : 0;
        for (LiveMigration.RoundStats st : r.rounds()) {
            t.add("c", series, st.round(), st.pagesDirtied(), "pages dirtied", "pre-copy", st.pagesSent(),
                    st.pagesRemaining(), 1, conv, ver, "", false);
        }
        LiveMigration.RoundStats last = r.stopAndCopy();
        t.add("c", series, last.round(), last.pagesDirtied(), "pages dirtied", "stop-and-copy", last.pagesSent(),
                last.pagesRemaining(), 1, conv, ver, r.downtimeNanos() / 1e6, false);
    }

    // ---------------------------------------------------------------------------------------
    // (a)

    /** Stop flag of a timed loop: written by the main thread once, read by the writer threads. */
    private static final class Stop {
        volatile boolean now;
    }

    /**
     * Pages marked per second by {@code writers} threads over {@code ms} milliseconds of random
     * setDirty calls, while the calling thread takes the whole bitmap every {@link #SYNC_PERIOD_NS}.
     */
    static double setDirtyRate(String impl, int writers, long ms) throws InterruptedException {
        DirtyBitmaps.Bitmap bm = DirtyBitmaps.create(impl, BITMAP_PAGES);
        long[] snapshot = new long[(int) (BITMAP_PAGES >>> 6)];
        Stop stop = new Stop();
        // Each writer stores its count here before it ends; the main thread reads after join().
        long[] counts = new long[writers];
        CountDownLatch ready = new CountDownLatch(writers);
        CountDownLatch go = new CountDownLatch(1);
        List<Thread> threads = new ArrayList<>();
        for (int w = 0; w < writers; w++) {
            final int id = w;
            Thread th = new Thread(() -> {
                long x = 0x9e3779b97f4a7c15L * (id + 1); // xorshift state: cheap next page, same for both bitmaps
                long n = 0;
                ready.countDown();
                try {
                    go.await();
                } catch (InterruptedException e) {
                    return;
                }
                // The volatile read per call also keeps C2 from coarsening the synchronized
                // bitmap's lock across iterations, which would hide its cost.
                while (!stop.now) {
                    x ^= x << 13;
                    x ^= x >>> 7;
                    x ^= x << 17;
                    bm.setDirty(x & (BITMAP_PAGES - 1));
                    n++;
                }
                counts[id] = n;
            }, "f5-writer" + w);
            th.setDaemon(true);
            threads.add(th);
            th.start();
        }
        ready.await();
        long t0 = System.nanoTime();
        go.countDown();
        long end = t0 + TimeUnit.MILLISECONDS.toNanos(ms);
        for (long next = t0 + SYNC_PERIOD_NS; next - end < 0; next += SYNC_PERIOD_NS) {
            LockSupport.parkNanos(next - System.nanoTime());
            bm.testAndClearRange(0, BITMAP_PAGES, snapshot);
        }
        stop.now = true;
        long elapsed = System.nanoTime() - t0;
        long total = 0;
        for (int w = 0; w < writers; w++) {
            threads.get(w).join();
            total += counts[w];
        }
        return total / (elapsed / 1e9);
    }

    // ---------------------------------------------------------------------------------------
    // (b) and (c)

    /** Sleeps until a round that sent {@code bytes} took as long as {@code link} bytes/s needs. */
    private static LiveMigration.Listener link(long link) {
        return new LiveMigration.Listener() {
            @Override
            public void roundCompleted(LiveMigration.RoundStats st) {
                long due = st.bytesSent() * 1_000_000_000L / link - st.durationNanos();
                if (due > 0) {
                    LockSupport.parkNanos(due);
                }
            }
        };
    }

    /**
     * Migrates the rig's guest RAM to a fresh address space of the same layout, again and again
     * until the job's window ends. Context: the job's main loop (its only caller).
     */
    static final class MigrationLoop implements JobRunner.DuringWindow {
        /** Results in order; written by the main loop only, read by it after the job returns. */
        final List<LiveMigration.Result> results = new ArrayList<>();
        /** A migration's exception; set by the main loop, read by it after the job returns. */
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        /** Guest RAM size; written and read by the main loop only. */
        long ramBytes;

        @Override
        public void run(VirtioBlkRig rig, long endNanos) {
            GuestMemory m = rig.memory();
            ramBytes = m.ram().size();
            AddressSpace dst = new AddressSpace("f5-destination");
            RamRegion ram = new RamRegion("f5-destination-ram", ramBytes);
            dst.map(m.base(), ram);
            // A migration takes ~ RAM / link; start one only if it can end inside the window.
            long margin = ramBytes * 1_000_000_000L / GUEST_LINK + 20_000_000L;
            try {
                while (endNanos - System.nanoTime() > margin) {
                    results.add(new LiveMigration(m.addressSpace(), dst, GUEST_PARAMS).run(link(GUEST_LINK)));
                }
            } catch (RuntimeException e) {
                failure.set(e);
            } finally {
                dst.unmap(ram);
                ram.close();
            }
        }
    }

    /**
     * Migrates {@link #RATE_RAM} of RAM while one thread writes 8 bytes into a random page {@code
     * rate} times a second (through the address space's Dma, so each write is dirty-logged and
     * stops at the pause). Context: the main thread.
     */
    static LiveMigration.Result migrateAtRate(long rate) throws InterruptedException {
        AddressSpace src = new AddressSpace("f5-src");
        AddressSpace dst = new AddressSpace("f5-dst");
        RamRegion srcRam = new RamRegion("f5-src-ram", RATE_RAM);
        RamRegion dstRam = new RamRegion("f5-dst-ram", RATE_RAM);
        src.map(0, srcRam);
        dst.map(0, dstRam);
        Stop stop = new Stop();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread writer = new Thread(() -> {
            try {
                Dma dma = Dma.forCpu(src);
                long pages = RATE_RAM / TARGET_PAGE_SIZE;
                long x = 0x2545f4914f6cdd1dL;
                long t0 = System.nanoTime();
                long n = 0;
                while (!stop.now) {
                    if (n < (System.nanoTime() - t0) * rate / 1_000_000_000L) {
                        x ^= x << 13;
                        x ^= x >>> 7;
                        x ^= x << 17;
                        dma.writeU64(((x >>> 1) % pages) * TARGET_PAGE_SIZE + (n & 511) * 8, n);
                        n++;
                    } else {
                        LockSupport.parkNanos(20_000);
                    }
                }
            } catch (Throwable e) {
                failure.set(e);
            }
        }, "f5-dirtier");
        writer.setDaemon(true);
        try {
            if (rate > 0) {
                writer.start();
                Thread.sleep(20); // the writer is under way before the dirty log starts
            }
            return new LiveMigration(src, dst, RATE_PARAMS).run(link(RATE_LINK));
        } finally {
            stop.now = true;
            if (rate > 0) {
                writer.join();
            }
            src.unmap(srcRam);
            dst.unmap(dstRam);
            srcRam.close();
            dstRam.close();
            if (failure.get() != null) {
                throw new IllegalStateException("the dirtying thread failed: " + failure.get(), failure.get());
            }
        }
    }
}
