package org.mqblock.experiments;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Locale;

/**
 * A small streaming JSON writer, pretty-printed: results are a few kilobytes and flat enough that a
 * library would be more code than this. Commas and indentation are its job; nesting errors throw.
 */
public final class JsonOut {

    private final StringBuilder out = new StringBuilder();
    /** The open containers, innermost first. */
    private final Deque<Frame> open = new ArrayDeque<>();
    private boolean afterName;

    public JsonOut beginObject() {
        element();
        out.append('{');
        open.push(new Frame('}'));
        return this;
    }

    public JsonOut endObject() {
        return close('}');
    }

    public JsonOut beginArray() {
        element();
        out.append('[');
        open.push(new Frame(']'));
        return this;
    }

    public JsonOut endArray() {
        return close(']');
    }

    public JsonOut name(String name) {
        if (afterName || open.isEmpty() || open.peek().close != '}') {
            throw new IllegalStateException("a name must be inside an object, before its value: " + name);
        }
        separate();
        out.append(quote(name)).append(": ");
        afterName = true;
        return this;
    }

    public JsonOut value(String s) {
        element();
        out.append(s == null ? "null" : quote(s));
        return this;
    }

    public JsonOut value(long v) {
        element();
        out.append(v);
        return this;
    }

    public JsonOut value(double v) {
        element();
        if (Double.isNaN(v) || Double.isInfinite(v)) {
            out.append("null"); // JSON has no NaN
        } else if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            out.append((long) v);
        } else {
            out.append(String.format(Locale.ROOT, "%.6f", v));
        }
        return this;
    }

    public JsonOut value(boolean v) {
        element();
        out.append(v);
        return this;
    }

    public JsonOut field(String name, String v) {
        return name(name).value(v);
    }

    public JsonOut field(String name, long v) {
        return name(name).value(v);
    }

    public JsonOut field(String name, double v) {
        return name(name).value(v);
    }

    public JsonOut field(String name, boolean v) {
        return name(name).value(v);
    }

    /** Inserts already-formed JSON (e.g. {@link MachineInfo#toJson()}) as a value. */
    public JsonOut raw(String json) {
        element();
        out.append(json);
        return this;
    }

    @Override
    public String toString() {
        if (!open.isEmpty()) {
            throw new IllegalStateException(open.size() + " containers still open");
        }
        return out.append('\n').toString();
    }

    private void element() {
        if (afterName) {
            afterName = false;
            return;
        }
        if (!open.isEmpty()) {
            if (open.peek().close == '}') {
                throw new IllegalStateException("a value inside an object needs a name");
            }
            separate();
        }
    }

    private void separate() {
        Frame f = open.peek();
        if (f.hasElement) {
            out.append(',');
        }
        f.hasElement = true;
        newline(open.size());
    }

    private JsonOut close(char c) {
        if (open.isEmpty() || afterName || open.peek().close != c) {
            throw new IllegalStateException("unbalanced '" + c + "'");
        }
        if (open.pop().hasElement) {
            newline(open.size());
        }
        out.append(c);
        return this;
    }

    private void newline(int depth) {
        out.append('\n');
        out.append("  ".repeat(depth));
    }

    private static final class Frame {
        final char close;
        boolean hasElement;

        Frame(char close) {
            this.close = close;
        }
    }

    public static String quote(String s) {
        StringBuilder b = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }
}
