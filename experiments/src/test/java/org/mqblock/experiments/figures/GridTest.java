package org.mqblock.experiments.figures;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A grid visits every combination once, the last axis fastest, and counts them; rows take its values. */
class GridTest {

    static final Column<String> MODE = Column.text("mode");
    static final Column<Integer> DEPTH = Column.integer("iodepth");
    static final Column<Double> IOPS = Column.real("iops");

    @Test
    void visitsEveryCombinationOnceInnermostFastestAndCountsThem() {
        Grid g = Grid.reps(2).then(DEPTH, List.of(1, 32)).then(MODE, List.of("sq", "mq"));
        List<String> seen = new ArrayList<>();
        for (Grid.Point p : g) {
            seen.add(p.name());
        }
        assertEquals(List.of("0-1-sq", "0-1-mq", "0-32-sq", "0-32-mq", "1-1-sq", "1-1-mq", "1-32-sq", "1-32-mq"), seen);
        assertEquals(seen.size(), g.size());
    }

    @Test
    void aRowFromAPointCarriesItsValuesAndIsReadByColumn() {
        Table t = new Table(Columns.of(MODE, DEPTH, Grid.REP, IOPS));
        for (Grid.Point p : Grid.reps(3).then(MODE, List.of("sq", "mq")).then(DEPTH, List.of(1, 32))) {
            double iops = (p.get(MODE).equals("mq") ? 2 : 1) * p.get(DEPTH) * (10 + p.get(Grid.REP));
            t.row(p).set(IOPS, iops).add();
        }
        assertEquals(12, t.rows().size());
        assertEquals(List.of(640.0, 704.0, 768.0), t.where(MODE.is("mq"), DEPTH.is(32)).stream().map(r -> r.get(IOPS)).toList());
        assertEquals(704.0, t.median(IOPS, MODE.is("mq"), DEPTH.is(32)));
        assertEquals(11.0, t.median(IOPS, MODE.is("sq"), DEPTH.is(1)));
        assertEquals(List.of(1, 32), t.distinct(DEPTH));
        assertEquals(Double.NaN, t.median(IOPS, MODE.is("none")));
        assertEquals(11.0, t.where(MODE.is("sq"), DEPTH.is(1), Grid.REP.is(1)).get(0).num("iops"));
    }

    @Test
    void badAxesAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> Grid.of(MODE, List.of()));
        assertThrows(IllegalArgumentException.class, () -> Grid.of(MODE, List.of("a")).then(MODE, List.of("b")));
        Grid.Point p = Grid.of(MODE, List.of("a")).iterator().next();
        assertThrows(IllegalArgumentException.class, () -> p.get(DEPTH));
    }
}
