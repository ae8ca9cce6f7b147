package org.mqblock.experiments.figures;

import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * A figure's columns, in CSV order: declared once, as the figure's {@code COLUMNS} constant, and
 * used by its {@link Table}, the CSV and JSON writers and {@code mqb reproduce}'s checks.
 */
public final class Columns implements Iterable<Column<?>> {

    private final List<Column<?>> columns;
    private final Map<String, Integer> index = new HashMap<>();

    private Columns(List<Column<?>> columns) {
        this.columns = List.copyOf(columns);
        for (int i = 0; i < this.columns.size(); i++) {
            if (index.put(this.columns.get(i).name(), i) != null) {
                throw new IllegalArgumentException("column '" + this.columns.get(i).name() + "' declared twice");
            }
        }
    }

    public static Columns of(Column<?>... columns) {
        return new Columns(List.of(columns));
    }

    public int size() {
        return columns.size();
    }

    public Column<?> get(int i) {
        return columns.get(i);
    }

    public List<String> names() {
        return columns.stream().map(Column::name).toList();
    }

    /** The position of {@code c}, or a message naming the columns there are. */
    int index(Column<?> c) {
        Integer i = index.get(c.name());
        if (i == null || !columns.get(i).equals(c)) {
            throw new IllegalArgumentException("no column " + c.name() + " (" + c.type().getSimpleName() + ") in " + names());
        }
        return i;
    }

    /** The column named {@code name}, or a message naming the columns there are. */
    Column<?> named(String name) {
        Integer i = index.get(name);
        if (i == null) {
            throw new IllegalArgumentException("no column '" + name + "' in " + names());
        }
        return columns.get(i);
    }

    @Override
    public Iterator<Column<?>> iterator() {
        return columns.iterator();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Columns c && c.columns.equals(columns);
    }

    @Override
    public int hashCode() {
        return columns.hashCode();
    }

    @Override
    public String toString() {
        return names().toString();
    }
}
