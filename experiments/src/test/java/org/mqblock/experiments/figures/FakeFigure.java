package org.mqblock.experiments.figures;

import java.util.List;

/** A figure outside the registry, as a new one starts: one class, its columns declared once. */
final class FakeFigure implements Figure {

    static final Column<Integer> I = Column.integer("i");
    static final Column<Double> X = Column.real("x");
    static final Columns COLUMNS = Columns.of(I, Grid.REP, X);

    static Grid grid(boolean quick) {
        return Grid.reps(Jobs.reps(quick)).then(I, List.of(1, 2));
    }

    public String id() { return "FX"; }
    public String slug() { return "fake"; }
    public String claim() { return "x is at least 2."; }
    public int steps(boolean quick) { return grid(quick).size(); }
    public String expectedRuntime(boolean quick) { return "0 s"; }
    public Columns columns() { return COLUMNS; }

    public Outcome run(Sweep s) {
        Table t = new Table(COLUMNS);
        for (Grid.Point p : grid(s.quick())) {
            t.row(p).set(X, 1.5).add();
            s.step();
        }
        return new Outcome(t, List.of(Panel.lines("x", "i", "x").summary("x", t.rows(), I, X, null)),
                List.of("x was 1.5."), List.of());
    }

    public Verdict judge(Table t, Sweep s) { return Verdict.atLeast("x", t.median(X), 2); }
}
