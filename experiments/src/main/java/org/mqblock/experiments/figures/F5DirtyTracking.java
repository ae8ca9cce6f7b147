package org.mqblock.experiments.figures;

import static org.mqblock.memory.TargetPage.TARGET_PAGE_SIZE;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.mqblock.experiments.job.JobResult;
import org.mqblock.experiments.job.JobRunner;
import org.mqblock.experiments.job.JobSpec;
import org.mqblock.memory.AddressSpace;
import org.mqblock.memory.Dma;
import org.mqblock.memory.LiveMigration;
import org.mqblock.memory.RamRegion;
import org.mqblock.memory.workload.DirtyPages;
import org.mqblock.memory.workload.MarkingWorkload;
import org.mqblock.virtio.GuestMemory;
import org.mqblock.virtio.VirtioBlkRig;

/**
 * F5: dirty-page tracking. (a) setDirty throughput of the atomic {@link
 * org.mqblock.memory.DirtyBitmap} against one lock around the bitmap, as writer threads grow,
 * with a consumer taking the bitmap every millisecond as migration does ({@link MarkingWorkload});
 * (b) a guest job's IOPS without and with live migrations of its RAM running back to back beside
 * it; (c) per-round pages of pre-copy, for that guest and for a RAM written at fixed dirty rates.
 * Every point is repeated ({@link Jobs#reps}), the configurations compared alternating innermost.
 *
 * <p>Migration bandwidth is modelled: after each round the migrating thread sleeps until the round
 * took as long as its bytes need on the link. Without it a copy at memory speed converges at any
 * dirty rate.
 */
final class F5DirtyTracking implements Figure {

    /** (a): a bitmap for 4 GiB of 4 KiB pages (a power of two, so a mask picks a random page). */
    static final long BITMAP_PAGES = 1L << 20;
    static final List<String> BITMAPS = List.of("atomic", "synchronized");
    static final long SYNC_PERIOD_NS = 1_000_000;

    /** (b): the guest's migration: 64 MiB/s link, 256 KiB rounds (4 ms), 512 KiB downtime budget. */
    static final long GUEST_LINK = 64L << 20;
    static final LiveMigration.Params GUEST_PARAMS = new LiveMigration.Params(256L << 10, 200, 512L << 10,
            Duration.ofSeconds(10));
    static final List<String> GUEST_SERIES = List.of("no migration", "migrating");

    /** (c): 16 MiB of RAM written at fixed rates; 512 MiB/s link, 1 MiB rounds (2 ms). */
    static final long RATE_RAM = 16L << 20;
    static final long RATE_LINK = 512L << 20;
    static final LiveMigration.Params RATE_PARAMS = new LiveMigration.Params(1L << 20, 40, 512L << 10,
            Duration.ofSeconds(10));
    static final List<Long> DIRTY_RATES = List.of(0L, 25_000L, 75_000L, 150_000L);

    static final Column<String> PART = Column.text("part");
    static final Column<String> SERIES = Column.text("series");
    /** (a) writer threads, (b) vCPUs, (c) pre-copy round. */
    static final Column<Integer> X = Column.integer("x");
    static final Column<Double> VALUE = Column.real("value");
    static final Column<String> UNIT = Column.text("unit");
    static final Column<String> PHASE = Column.text("phase");
    static final Column<Double> PAGES_SENT = Column.real("pages_sent");
    static final Column<Double> PAGES_REMAINING = Column.real("pages_remaining");
    static final Column<Long> MIGRATIONS = Column.count("migrations");
    static final Column<Long> CONVERGED = Column.count("converged");
    static final Column<Long> VERIFIED = Column.count("verified");
    static final Column<Double> DOWNTIME_MS = Column.real("downtime_ms");
    static final Column<Boolean> OVERSUBSCRIBED = Column.flag("oversubscribed");
    /** Cells that do not apply to a part are NaN (empty in the CSV, null in the JSON). */
    static final Columns COLUMNS = Columns.of(PART, SERIES, X, Grid.REP, VALUE, UNIT, PHASE, PAGES_SENT, PAGES_REMAINING,
            MIGRATIONS, CONVERGED, VERIFIED, DOWNTIME_MS, OVERSUBSCRIBED);

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
                + " for (at least 2, beside the sync thread), the atomic bitmap's median marks >= 1.2x the pages per"
                + " second of one writer and >= 1.2x those of a synchronized bitmap; and live migration beside guest I/O"
                + " converges and verifies equal every time.";
    }

    /** Whether {@code writers} and the sync thread outnumber this machine's CPUs. */
    static boolean oversubscribed(int writers, int cpus) {
        return writers + 1 > cpus;
    }

    @Override
    public Verdict judge(Table t, Sweep s) {
        List<Verdict> parts = new ArrayList<>();
        int n = t.where(PART.is("a")).stream().mapToInt(r -> r.get(X))
                .filter(w -> w >= 2 && !oversubscribed(w, s.cpus())).max().orElse(0);
        if (n == 0) {
            parts.add(Verdict.notTestable("(a) needs 2 writers and the sync thread on 3 CPUs; this machine has " + s.cpus()));
        } else {
            double atomic = marks(t, "atomic", n);
            parts.add(Verdict.atLeast("(a) atomic " + n + " writers/1", atomic / marks(t, "atomic", 1), 1.2));
            parts.add(Verdict.atLeast("(a) atomic/synchronized at " + n + " writers", atomic / marks(t, "synchronized", n),
                    1.2));
        }
        List<Table.Row> migrating = t.where(PART.is("b"), SERIES.is("migrating"));
        long runs = migrating.stream().mapToLong(r -> r.get(MIGRATIONS)).sum();
        long converged = migrating.stream().mapToLong(r -> r.get(CONVERGED)).sum();
        long verified = migrating.stream().mapToLong(r -> r.get(VERIFIED)).sum();
        if (runs == 0) {
            parts.add(Verdict.notTestable("(b) no migration completed beside the guest"));
        } else {
            String what = "(b) " + runs + " migrations beside guest I/O: " + converged + " converged, " + verified + " verified";
            parts.add(converged == runs && verified == runs ? Verdict.supported(what) : Verdict.notSupported(what));
        }
        return Verdict.all(parts);
    }

    /** (a): the median M pages/s of {@code impl} at {@code writers}. */
    private static double marks(Table t, String impl, int writers) {
        return t.median(VALUE, PART.is("a"), SERIES.is(impl), X.is(writers));
    }

    static List<Integer> writers(boolean quick) {
        return quick ? List.of(1, 2) : List.of(1, 2, 4);
    }

    static List<Integer> vcpus(boolean quick) {
        return quick ? List.of(1) : List.of(1, 2);
    }

    /** (a): the two bitmaps alternate innermost. */
    static Grid gridA(boolean quick) {
        return Grid.reps(Jobs.reps(quick)).then(X, writers(quick)).then(SERIES, BITMAPS);
    }

    /** (b): without and with migration alternate innermost. */
    static Grid gridB(boolean quick) {
        return Grid.reps(Jobs.reps(quick)).then(X, vcpus(quick)).then(SERIES, GUEST_SERIES);
    }

    /** (c): the dirty rates, repeated. */
    static Grid gridC(boolean quick) {
        return Grid.reps(Jobs.reps(quick)).then(SERIES, DIRTY_RATES.stream().map(F5DirtyTracking::rateLabel).toList());
    }

    @Override
    public int steps(boolean quick) {
        return gridA(quick).size() + gridB(quick).size() + gridC(quick).size();
    }

    @Override
    public String expectedRuntime(boolean quick) {
        return quick ? "~25 s" : "~2 min";
    }

    @Override
    public Columns columns() {
        return COLUMNS;
    }

    /** A row of {@code part} from {@code p} with every column that does not apply to it left NaN, 0 or empty. */
    private static Table.RowBuilder row(Table t, Grid.Point p, String part) {
        return t.row(p).set(PART, part).set(PHASE, "");
    }

    @Override
    public Outcome run(Sweep s) throws Exception {
        Table t = new Table(COLUMNS);
        List<String> findings = new ArrayList<>();
        Panel pa = Panel.lines("(a) setDirty, 4 GiB, 1 ms syncs", "writer threads", "M pages marked / s");
        Panel pb = Panel.bars("(b) guest 4k randread, mq", "", "IOPS");
        Panel pc = Panel.lines("(c) pre-copy: pages left", "round", "pages remaining");
        Panel pd = Panel.lines("(c) pre-copy: pages dirtied per round", "round", "pages dirtied");

        // (a)
        long ms = s.quick() ? 300 : 1_500;
        for (String impl : BITMAPS) {
            MarkingWorkload.run(DirtyPages.create(impl, BITMAP_PAGES), MarkingWorkload.Pages.RANDOM, BITMAP_PAGES, 1, 300,
                    SYNC_PERIOD_NS); // JIT warm-up, discarded
        }
        for (Grid.Point p : gridA(s.quick())) {
            int n = p.get(X);
            double mps = MarkingWorkload.run(DirtyPages.create(p.get(SERIES), BITMAP_PAGES), MarkingWorkload.Pages.RANDOM,
                    BITMAP_PAGES, n, ms, SYNC_PERIOD_NS).marksPerSecond() / 1e6;
            row(t, p, "a").set(VALUE, mps).set(UNIT, "M pages/s").set(PAGES_SENT, Double.NaN)
                    .set(PAGES_REMAINING, Double.NaN).set(MIGRATIONS, 0L).set(CONVERGED, 0L).set(VERIFIED, 0L)
                    .set(DOWNTIME_MS, Double.NaN).set(OVERSUBSCRIBED, oversubscribed(n, s.cpus())).add();
            s.log().printf("(a) rep %d, %s, %d writers: %.1f M pages/s%n", p.get(Grid.REP), p.get(SERIES), n, mps);
            s.step();
        }
        for (String impl : BITMAPS) {
            pa.summary(impl, t.where(PART.is("a"), SERIES.is(impl)), X, VALUE, OVERSUBSCRIBED);
        }
        for (int n : writers(s.quick())) {
            if (oversubscribed(n, s.cpus())) {
                findings.add(String.format(Locale.ROOT, "(a) %d writers: NOT TESTABLE HERE, %d writers and the sync thread"
                        + " share %d CPUs; drawn hollow, not a result.", n, n, s.cpus()));
                continue;
            }
            findings.add(String.format(Locale.ROOT, "(a) %d writer%s, M pages/s, median [min-max] of %d: atomic %s,"
                            + " synchronized %s (atomic/synchronized %s)%s.", n, n == 1 ? "" : "s", Jobs.reps(s.quick()),
                    Table.spread(t.values(VALUE, PART.is("a"), SERIES.is("atomic"), X.is(n)), "%.1f"),
                    Table.spread(t.values(VALUE, PART.is("a"), SERIES.is("synchronized"), X.is(n)), "%.1f"),
                    Jobs.fmtRatio(marks(t, "atomic", n) / marks(t, "synchronized", n)),
                    n == 1 ? "" : "; atomic " + n + " writers/1: " + Jobs.fmtRatio(marks(t, "atomic", n) / marks(t, "atomic", 1))));
        }

        // (b), and the guest's rounds for (c)
        LiveMigration.Result firstGuestMigration = null;
        int ramMiB = 0;
        for (Grid.Point p : gridB(s.quick())) {
            int n = p.get(X);
            boolean migrate = p.get(SERIES).equals("migrating");
            JobSpec spec = Jobs.base(s).numjobs(n).build();
            MigrationLoop loop = migrate ? new MigrationLoop() : null;
            JobResult r = Jobs.run(s, "guest-" + n + "vcpu-" + (migrate ? "migrating" : "no-migration") + "-"
                    + p.get(Grid.REP), spec, loop);
            List<LiveMigration.Result> rs = List.of();
            if (loop != null) {
                if (loop.failure.get() != null) {
                    throw new IllegalStateException("migration beside the guest failed: " + loop.failure.get(),
                            loop.failure.get());
                }
                rs = loop.results;
                ramMiB = (int) (loop.ramBytes >> 20);
                if (firstGuestMigration == null && n == 1 && !rs.isEmpty()) {
                    firstGuestMigration = rs.get(0);
                }
            }
            row(t, p, "b").set(VALUE, r.iops()).set(UNIT, "IOPS").set(PAGES_SENT, Double.NaN)
                    .set(PAGES_REMAINING, Double.NaN).set(MIGRATIONS, (long) rs.size())
                    .set(CONVERGED, rs.stream().filter(LiveMigration.Result::converged).count())
                    .set(VERIFIED, rs.stream().filter(LiveMigration.Result::verified).count())
                    .set(DOWNTIME_MS, rs.isEmpty() ? Double.NaN
                            : rs.stream().mapToLong(LiveMigration.Result::downtimeNanos).average().orElse(0) / 1e6)
                    .set(OVERSUBSCRIBED, migrate ? 2 * n + 1 > s.cpus() : n > s.cpus()).add();
        }
        for (int n : vcpus(s.quick())) {
            List<Table.Row> rows = t.where(PART.is("b"), X.is(n));
            pb.summary(n + " vCPU" + (n == 1 ? "" : "s"), rows, SERIES, VALUE, null);
            List<Table.Row> mig = t.where(PART.is("b"), X.is(n), SERIES.is("migrating"));
            boolean over = mig.stream().anyMatch(r -> r.get(OVERSUBSCRIBED));
            findings.add(String.format(Locale.ROOT, "(b) %d vCPU%s%s, median [min-max] of %d: %s IOPS with migration vs %s"
                            + " without (%s); %d back-to-back migrations of %d MiB guest RAM, %d converged, %d verified"
                            + " equal, mean downtime %.2f ms (byte-for-byte verification included).", n, n == 1 ? "" : "s",
                    over ? " (the vCPUs, IOThreads and migrating thread outnumber " + s.cpus() + " CPUs)" : "",
                    Jobs.reps(s.quick()), Table.spread(t.values(VALUE, PART.is("b"), X.is(n), SERIES.is("migrating")), "%.0f"),
                    Table.spread(t.values(VALUE, PART.is("b"), X.is(n), SERIES.is("no migration")), "%.0f"),
                    Jobs.fmtRatio(t.median(VALUE, PART.is("b"), X.is(n), SERIES.is("migrating"))
                            / t.median(VALUE, PART.is("b"), X.is(n), SERIES.is("no migration"))),
                    mig.stream().mapToLong(r -> r.get(MIGRATIONS)).sum(), ramMiB,
                    mig.stream().mapToLong(r -> r.get(CONVERGED)).sum(), mig.stream().mapToLong(r -> r.get(VERIFIED)).sum(),
                    t.mean(DOWNTIME_MS, PART.is("b"), X.is(n), SERIES.is("migrating"))));
        }

        // (c): every repetition in the table; the plots trace repetition 0.
        if (firstGuestMigration != null) {
            addRounds(t, "guest job, 1 vCPU (" + (firstGuestMigration.pagesTotal() * TARGET_PAGE_SIZE >> 20) + " MiB)", 0,
                    firstGuestMigration);
        }
        for (Grid.Point p : gridC(s.quick())) {
            String label = p.get(SERIES);
            long rate = DIRTY_RATES.get(DIRTY_RATES.stream().map(F5DirtyTracking::rateLabel).toList().indexOf(label));
            LiveMigration.Result r = migrateAtRate(rate);
            addRounds(t, label, p.get(Grid.REP), r);
            s.log().printf("(c) rep %d, %s: %d rounds, converged %s, verified %s, downtime %.2f ms%n", p.get(Grid.REP),
                    label, r.rounds().size(), r.converged(), r.verified(), r.downtimeNanos() / 1e6);
            if (!r.verified()) {
                throw new IllegalStateException("(c) " + label + ": " + r.mismatch());
            }
            s.step();
        }
        for (String series : t.distinct(SERIES)) {
            List<Table.Row> trace = t.where(PART.is("c"), SERIES.is(series), Grid.REP.is(0));
            if (!trace.isEmpty()) {
                pc.series(series, trace, X, PAGES_REMAINING);
                pd.series(series, trace, X, VALUE);
            }
        }
        for (long rate : DIRTY_RATES) {
            List<Table.Row> stops = t.where(PART.is("c"), SERIES.is(rateLabel(rate)), PHASE.is("stop-and-copy"));
            findings.add(String.format(Locale.ROOT, "(c) %s, over %d repetitions: %d converged, pre-copy rounds"
                            + " median [min-max] %s, stop-and-copy sent %s pages; destination verified equal each time.",
                    rateLabel(rate), stops.size(), stops.stream().filter(r -> r.get(CONVERGED) == 1).count(),
                    Table.spread(stops.stream().mapToDouble(r -> t.where(PART.is("c"), SERIES.is(rateLabel(rate)),
                            Grid.REP.is(r.get(Grid.REP)), PHASE.is("pre-copy")).size()).toArray(), "%.0f"),
                    Table.spread(stops.stream().mapToDouble(r -> r.num(PAGES_SENT)).toArray(), "%.0f")));
        }

        List<String> notes = new ArrayList<>();
        notes.add(writers(s.quick()).stream().anyMatch(n -> oversubscribed(n, s.cpus())) ? "(a) This machine has "
                + s.cpus() + " CPUs: with the sync thread, points from " + Math.max(1, s.cpus()) + " writers on are"
                + " oversubscribed (threads share CPUs), drawn hollow, and not testable here; run on a larger machine." : "");
        notes.add("(a) setDirty on random pages of a 4 GiB bitmap (4 KiB pages), with a consumer thread taking the whole"
                + " bitmap every 1 ms as a migration sync would; the synchronized bitmap holds its lock for that whole"
                + " take. Random pages over one 128 KiB bitmap make all writers share every cache line, the worst case"
                + " for scaling. (b) is a 4k randread job in mq mode on the memory backend.");
        notes.add("(b) migrates the rig's guest RAM back to back over a modelled 64 MiB/s link (256 KiB rounds,"
                + " 512 KiB downtime budget); every stop-and-copy pauses the guest and compares all of its RAM, which"
                + " a real migration would not.");
        notes.add("(c) fixed rates are one writer thread storing into random pages of 16 MiB; 512 MiB/s link,"
                + " 1 MiB rounds (2 ms), 512 KiB downtime budget, at most " + RATE_PARAMS.maxRounds() + " rounds; the"
                + " plots trace the first repetition, the table holds all.");
        notes.add("Points are medians of " + Jobs.reps(s.quick()) + " repetitions, the configurations compared"
                + " alternating within each; bars span min-max.");
        return new Outcome(t, List.of(pa, pb, pc, pd), findings, notes);
    }

    static String rateLabel(long rate) {
        return rate == 0 ? "idle RAM" : rate / 1000 + "k pages/s";
    }

    /** One row per pre-copy round and one for the stop-and-copy. */
    private static void addRounds(Table t, String series, int rep, LiveMigration.Result r) {
        long conv = r.converged() ? 1 : 0;
        long ver = r.verified() ? 1 : 0;
        List<LiveMigration.RoundStats> rounds = new ArrayList<>(r.rounds());
        rounds.add(r.stopAndCopy());
        for (LiveMigration.RoundStats st : rounds) {
            boolean last = st == r.stopAndCopy();
            t.row().set(PART, "c").set(SERIES, series).set(X, st.round()).set(Grid.REP, rep)
                    .set(VALUE, (double) st.pagesDirtied()).set(UNIT, "pages dirtied")
                    .set(PHASE, last ? "stop-and-copy" : "pre-copy").set(PAGES_SENT, (double) st.pagesSent())
                    .set(PAGES_REMAINING, (double) st.pagesRemaining()).set(MIGRATIONS, 1L).set(CONVERGED, conv)
                    .set(VERIFIED, ver).set(DOWNTIME_MS, last ? r.downtimeNanos() / 1e6 : Double.NaN)
                    .set(OVERSUBSCRIBED, false).add();
        }
    }

    // ---------------------------------------------------------------------------------------
    // (b) and (c)

    /** Stop flag of a timed loop: written by the main thread once, read by the dirtying thread. */
    private static final class Stop {
        volatile boolean now;
    }

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
