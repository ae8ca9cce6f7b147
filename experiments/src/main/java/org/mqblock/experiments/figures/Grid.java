package org.mqblock.experiments.figures;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.stream.IntStream;

/**
 * A sweep's parameter grid: axes, each a column and its values, outermost first; iterating visits
 * every combination with the last axis varying fastest. It counts its own points ({@link #size}),
 * which is the figure's progress-bar steps, so a figure never restates its loops to count them.
 * Put {@link #REP} outermost and the configurations compared innermost: drift over the run then
 * touches every configuration alike.
 */
public final class Grid implements Iterable<Grid.Point> {

    /** The repetition a point belongs to, 0 upwards. */
    public static final Column<Integer> REP = Column.integer("rep");

    private final List<Column<?>> axes;
    private final List<List<?>> values;

    private Grid(List<Column<?>> axes, List<List<?>> values) {
        this.axes = axes;
        this.values = values;
    }

    /** A grid of one axis. */
    public static <T> Grid of(Column<T> axis, List<T> values) {
        return new Grid(List.of(), List.of()).then(axis, values);
    }

    /** A grid whose outermost axis is {@link #REP}, 0 to {@code reps - 1}. */
    public static Grid reps(int reps) {
        return of(REP, IntStream.range(0, reps).boxed().toList());
    }

    /** This grid with {@code axis} inside every axis it has. */
    public <T> Grid then(Column<T> axis, List<T> values) {
        if (values.isEmpty()) {
            throw new IllegalArgumentException("axis '" + axis.name() + "' has no values");
        }
        if (axes.stream().anyMatch(a -> a.name().equals(axis.name()))) {
            throw new IllegalArgumentException("axis '" + axis.name() + "' twice");
        }
        values.forEach(axis::cast);
        List<Column<?>> a = new ArrayList<>(axes);
        a.add(axis);
        List<List<?>> v = new ArrayList<>(this.values);
        v.add(List.copyOf(values));
        return new Grid(List.copyOf(a), List.copyOf(v));
    }

    /** The number of points: the product of the axes' lengths. */
    public int size() {
        return values.stream().mapToInt(List::size).reduce(1, Math::multiplyExact);
    }

    @Override
    public Iterator<Point> iterator() {
        return new Iterator<>() {
            private int next;

            @Override
            public boolean hasNext() {
                return next < size();
            }

            @Override
            public Point next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                Object[] at = new Object[axes.size()];
                int rest = next++;
                for (int i = axes.size() - 1; i >= 0; i--) {
                    at[i] = values.get(i).get(rest % values.get(i).size());
                    rest /= values.get(i).size();
                }
                return new Point(at);
            }
        };
    }

    /** One combination of the axes' values. */
    public final class Point {
        private final Object[] at;

        private Point(Object[] at) {
            this.at = at;
        }

        public <T> T get(Column<T> axis) {
            for (int i = 0; i < axes.size(); i++) {
                if (axes.get(i).equals(axis)) {
                    return axis.type().cast(at[i]);
                }
            }
            throw new IllegalArgumentException("no axis '" + axis.name() + "' in this grid");
        }

        /** Sets each axis's column of {@code row} to this point's value. */
        @SuppressWarnings({"unchecked", "rawtypes"})
        void fill(Table.RowBuilder row) {
            for (int i = 0; i < axes.size(); i++) {
                row.set((Column) axes.get(i), at[i]);
            }
        }

        /** The point's values joined by {@code -}, e.g. {@code 0-mq-4}: a name for its raw files. */
        public String name() {
            StringBuilder b = new StringBuilder();
            for (int i = 0; i < at.length; i++) {
                b.append(i == 0 ? "" : "-").append(at[i]);
            }
            return b.toString();
        }
    }
}
