package org.mqblock.experiments.figures;

import java.util.Objects;

/**
 * One named, typed column of a figure's table. A figure declares its columns once, as constants
 * gathered in a {@link Columns}; the table, the CSV and JSON writers, {@code .ci/check-figures.py}
 * (through the JSON's {@code column_types}) and the figure's own claim all read them from there.
 *
 * @param type the Java type of a cell: {@link String}, {@link Integer}, {@link Long}, {@link Double}
 *     or {@link Boolean}
 */
public record Column<T>(String name, Class<T> type) {

    public Column {
        Objects.requireNonNull(name, "name");
        if (!(type == String.class || type == Integer.class || type == Long.class || type == Double.class
                || type == Boolean.class)) {
            throw new IllegalArgumentException("column '" + name + "': a cell is a string, int, long, double or boolean, not " + type);
        }
    }

    public static Column<String> text(String name) {
        return new Column<>(name, String.class);
    }

    public static Column<Integer> integer(String name) {
        return new Column<>(name, Integer.class);
    }

    public static Column<Long> count(String name) {
        return new Column<>(name, Long.class);
    }

    public static Column<Double> real(String name) {
        return new Column<>(name, Double.class);
    }

    public static Column<Boolean> flag(String name) {
        return new Column<>(name, Boolean.class);
    }

    /** The condition "this column equals {@code value}", for {@link Table#where}. */
    public Match is(T value) {
        return new Match(this, Objects.requireNonNull(value, "value"));
    }

    /** How the JSON names this type: {@code text}, {@code integer}, {@code number} or {@code flag}. */
    public String typeName() {
        if (type == String.class) {
            return "text";
        }
        if (type == Boolean.class) {
            return "flag";
        }
        return type == Double.class ? "number" : "integer";
    }

    /** {@code value} as this column's type, or a message naming the column. */
    T cast(Object value) {
        if (!type.isInstance(value)) {
            throw new IllegalArgumentException("column '" + name + "' holds " + type.getSimpleName() + ", got "
                    + (value == null ? "null" : value.getClass().getSimpleName() + " " + value));
        }
        return type.cast(value);
    }

    /** A condition on one column: its value equals {@code value}. */
    public record Match(Column<?> column, Object value) {}
}
