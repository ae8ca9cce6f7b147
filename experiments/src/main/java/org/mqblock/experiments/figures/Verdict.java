package org.mqblock.experiments.figures;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What a figure's data says of its claim: the claim is a predicate over the figure's table, and
 * {@code reproduce} evaluates it on every run. The verdict, with the numbers that decided it, goes
 * into the figure's JSON, its caption, its findings, the paper (through
 * {@code figures/<id>-verdict.tex}) and {@code mqb list}, so no outcome is ever written by hand.
 */
public record Verdict(Kind kind, String reason) {

    public enum Kind {
        SUPPORTED("SUPPORTED"),
        NOT_SUPPORTED("NOT SUPPORTED"),
        /** The machine cannot show it (too few CPUs, a missing peer): measured anyway, not judged. */
        NOT_TESTABLE_HERE("NOT TESTABLE HERE");

        public final String label;

        Kind(String label) {
            this.label = label;
        }
    }

    public static Verdict supported(String reason) {
        return new Verdict(Kind.SUPPORTED, reason);
    }

    public static Verdict notSupported(String reason) {
        return new Verdict(Kind.NOT_SUPPORTED, reason);
    }

    public static Verdict notTestable(String reason) {
        return new Verdict(Kind.NOT_TESTABLE_HERE, reason);
    }

    /** {@code what >= threshold}; a missing value (NaN) cannot be judged. */
    public static Verdict atLeast(String what, double value, double threshold) {
        if (Double.isNaN(value)) {
            return notTestable(what + " was not measured");
        }
        String s = String.format(Locale.ROOT, "%s = %s (needs >= %s)", what, fmt(value), fmt(threshold));
        return value >= threshold ? supported(s) : notSupported(s);
    }

    /** {@code what <= threshold}; a missing value (NaN) cannot be judged. */
    public static Verdict atMost(String what, double value, double threshold) {
        if (Double.isNaN(value)) {
            return notTestable(what + " was not measured");
        }
        String s = String.format(Locale.ROOT, "%s = %s (needs <= %s)", what, fmt(value), fmt(threshold));
        return value <= threshold ? supported(s) : notSupported(s);
    }

    /**
     * The conjunction: not supported if any part fails (the failing parts are the reason), else
     * not testable if any part is, else supported (all parts are the reason).
     */
    public static Verdict all(List<Verdict> parts) {
        if (parts.isEmpty()) {
            return notTestable("nothing was measured");
        }
        for (Kind k : new Kind[] {Kind.NOT_SUPPORTED, Kind.NOT_TESTABLE_HERE}) {
            List<String> why = new ArrayList<>();
            for (Verdict v : parts) {
                if (v.kind == k) {
                    why.add(v.reason);
                }
            }
            if (!why.isEmpty()) {
                return new Verdict(k, String.join("; ", why));
            }
        }
        return supported(String.join("; ", parts.stream().map(Verdict::reason).toList()));
    }

    /** The verdict as one line, e.g. {@code NOT SUPPORTED: mq/sq-global at 2 vCPUs = 0.91 (needs >= 1.2)}. */
    public String line() {
        return kind.label + ": " + reason;
    }

    static String fmt(double v) {
        if (v != 0 && Math.abs(v) < 10) {
            return String.format(Locale.ROOT, "%.2f", v);
        }
        return String.format(Locale.ROOT, "%.0f", v);
    }
}
