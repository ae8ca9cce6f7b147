package org.mqblock.experiments.figures;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.mqblock.memory.DispatchPolicy;
import org.mqblock.memory.workload.CrossDeviceDma;

/**
 * F6: two devices, each in its own IOThread, DMA into each other's registers for a fixed time,
 * under {@link DispatchPolicy#RELEASE_REACQUIRE} and under {@link DispatchPolicy#NESTED}: the
 * memory module's {@link CrossDeviceDma}, which breaks a deadlock it detects so the sweep goes on.
 */
final class F6RecursiveDispatch implements Figure {

    private static final DispatchPolicy[] POLICIES = {DispatchPolicy.RELEASE_REACQUIRE, DispatchPolicy.NESTED};

    static final Column<String> POLICY = Column.text("policy");
    static final Column<Double> WINDOW_S = Column.real("window_s");
    static final Column<Long> COMPLETED = Column.count("completed_dmas");
    static final Column<Boolean> DEADLOCKED = Column.flag("deadlocked");
    static final Column<Long> DETECTED_MS = Column.count("detected_after_ms");
    static final Column<Long> REFUSALS = Column.count("reentrancy_refusals");
    static final Column<Long> MID_DMA = Column.count("handler_runs_mid_own_dma");
    static final Column<Double> OPS_PER_S = Column.real("ops_per_s");
    static final Column<Integer> STUCK = Column.integer("threads_left_stuck");
    static final Columns COLUMNS = Columns.of(POLICY, Grid.REP, WINDOW_S, COMPLETED, DEADLOCKED, DETECTED_MS, REFUSALS,
            MID_DMA, OPS_PER_S, STUCK);

    @Override
    public String id() {
        return "F6";
    }

    @Override
    public String slug() {
        return "recursive-dispatch";
    }

    @Override
    public String claim() {
        return "Releasing the caller's AioContext before dispatching into another context's MMIO (release, acquire,"
                + " re-acquire) never deadlocks and completes DMAs in every run, while naive nested locking deadlocks in"
                + " at least one run.";
    }

    @Override
    public Verdict judge(Table t, Sweep s) {
        List<Table.Row> rr = t.where(POLICY.is(label(DispatchPolicy.RELEASE_REACQUIRE)));
        List<Table.Row> nested = t.where(POLICY.is(label(DispatchPolicy.NESTED)));
        long rrDeadlocks = rr.stream().filter(r -> r.get(DEADLOCKED)).count();
        long rrIdle = rr.stream().filter(r -> r.get(COMPLETED) == 0).count();
        long nestedDeadlocks = nested.stream().filter(r -> r.get(DEADLOCKED)).count();
        return Verdict.all(List.of(
                rrDeadlocks == 0 && rrIdle == 0 && !rr.isEmpty()
                        ? Verdict.supported("release-reacquire: " + rr.size() + " runs, no deadlock, DMAs in each")
                        : Verdict.notSupported("release-reacquire: " + rrDeadlocks + " of " + rr.size() + " runs deadlocked, "
                                + rrIdle + " completed no DMA"),
                nestedDeadlocks > 0
                        ? Verdict.supported("nested: deadlocked in " + nestedDeadlocks + " of " + nested.size() + " runs")
                        : Verdict.notSupported("nested: no deadlock in " + nested.size() + " runs")));
    }

    static int reps(boolean quick) {
        return Jobs.reps(quick);
    }

    static long windowMs(boolean quick) {
        return quick ? 1_000 : 3_000;
    }

    /** The two policies alternate within each repetition. */
    static Grid grid(boolean quick) {
        return Grid.reps(reps(quick)).then(POLICY, Arrays.stream(POLICIES).map(F6RecursiveDispatch::label).toList());
    }

    @Override
    public int steps(boolean quick) {
        return grid(quick).size();
    }

    @Override
    public String expectedRuntime(boolean quick) {
        return quick ? "~5 s" : "~30 s";
    }

    @Override
    public Columns columns() {
        return COLUMNS;
    }

    static String label(DispatchPolicy p) {
        return p == DispatchPolicy.NESTED ? "nested" : "release-reacquire";
    }

    static DispatchPolicy policy(String label) {
        return label.equals("nested") ? DispatchPolicy.NESTED : DispatchPolicy.RELEASE_REACQUIRE;
    }

    @Override
    public Outcome run(Sweep s) throws Exception {
        Table t = new Table(COLUMNS);
        long window = windowMs(s.quick());
        for (Grid.Point p : grid(s.quick())) {
            CrossDeviceDma.Run r = CrossDeviceDma.run(policy(p.get(POLICY)), window, s.log());
            t.row(p).set(WINDOW_S, r.seconds()).set(COMPLETED, r.completed()).set(DEADLOCKED, r.deadlocked())
                    .set(DETECTED_MS, r.detectedAfterMs()).set(REFUSALS, r.refusals()).set(MID_DMA, r.midDma())
                    .set(OPS_PER_S, r.completed() / r.seconds()).set(STUCK, r.stuck()).add();
            s.log().printf("%s rep %d: %d DMAs in %.2f s, deadlocked %s%s%n", p.get(POLICY), p.get(Grid.REP), r.completed(),
                    r.seconds(), r.deadlocked(), r.deadlocked() ? " after " + r.detectedAfterMs() + " ms" : "");
            s.step();
        }

        Panel done = Panel.bars("Cross-device DMAs completed per run (" + window / 1000 + " s window)",
                "dispatch policy", "millions of DMAs (A->B plus B->A), mean of runs");
        List<Double> doneMillions = new ArrayList<>();
        Panel dead = Panel.bars("Runs that deadlocked", "dispatch policy", "runs (of " + reps(s.quick()) + ")");
        List<Object> names = new ArrayList<>();
        List<Double> deadCounts = new ArrayList<>();
        List<String> findings = new ArrayList<>();
        for (DispatchPolicy p : POLICIES) {
            List<Table.Row> rows = t.where(POLICY.is(label(p)));
            long deadRuns = rows.stream().filter(r -> r.get(DEADLOCKED)).count();
            names.add(label(p));
            deadCounts.add((double) deadRuns);
            double meanDone = rows.stream().mapToDouble(r -> r.num(COMPLETED)).average().orElse(Double.NaN);
            doneMillions.add(meanDone / 1e6);
            double meanRate = rows.stream().mapToDouble(r -> r.num(OPS_PER_S)).average().orElse(Double.NaN);
            if (deadRuns == 0) {
                findings.add(String.format(Locale.ROOT, "%s: %.0f cross-device DMAs per %.0f s run (%.0f per s), 0"
                                + " deadlocks in %d runs; %d re-entrancy refusals.", label(p), meanDone, window / 1000.0,
                        meanRate, rows.size(), rows.stream().mapToLong(r -> r.get(REFUSALS)).sum()));
            } else {
                double meanAt = rows.stream().filter(r -> r.get(DEADLOCKED)).mapToDouble(r -> r.num(DETECTED_MS))
                        .average().orElse(Double.NaN);
                findings.add(String.format(Locale.ROOT, "%s: deadlocked in %d of %d runs after %.0f DMAs on average"
                                + " (detected by the JVM's deadlock detector %.0f ms into the run on average) and"
                                + " was broken by interrupting one IOThread.", label(p), deadRuns, rows.size(),
                        meanDone, meanAt));
            }
        }
        done.series("completed DMAs", names, doneMillions);
        dead.series("deadlocked runs", names, deadCounts);
        long stuck = t.rows().stream().mapToLong(r -> r.get(STUCK)).sum();
        List<String> notes = new ArrayList<>();
        notes.add("A deadlock is broken by interrupting device A's IOThread, whose NESTED wait for B's context then"
                + " fails; both IOThreads finish and are closed before the next run"
                + (stuck > 0 ? " except " + stuck + " daemon threads that stayed stuck." : "."));
        return new Outcome(t, List.of(done, dead), findings, notes);
    }
}
