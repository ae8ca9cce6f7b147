package org.mqblock.experiments.figures;

import java.util.List;

/**
 * One figure of the paper: a named sweep, the claim it tests, and how to draw what it measured.
 * Implementations measure for real on the machine they run on; what the machine cannot show (a
 * 16-vCPU point on 2 CPUs) they still measure, and say so in {@link Outcome#notes()}.
 */
public interface Figure {

    /** {@code F1}..{@code F9}: the name {@code mqb reproduce} takes. */
    String id();

    /** A short slug for titles and file names, e.g. {@code iops-vs-vcpus}. */
    String slug();

    /** The claim the figure tests, in one sentence. */
    String claim();

    /** Measured points (progress-bar steps) of a run. */
    int steps(boolean quick);

    /** Expected wall time on a 2-core machine, e.g. {@code "~40 s"}. */
    String expectedRuntime(boolean quick);

    /** The CSV's columns, in order (CI checks them). */
    List<String> columns();

    /** Runs the sweep, calling {@link Sweep#step} once per point. */
    Outcome run(Sweep sweep) throws Exception;

    /**
     * What a sweep produced.
     *
     * @param findings sentences computed from the data (ratios, counts) for the paper and README
     * @param notes limits of this run, e.g. points beyond the machine's CPUs
     */
    record Outcome(Table table, List<Panel> panels, List<String> findings, List<String> notes, Verdict verdict) {
        /** An outcome whose figure evaluates no verdict of its own. */
        public Outcome(Table table, List<Panel> panels, List<String> findings, List<String> notes) {
            this(table, panels, findings, notes, null);
        }
    }

    /**
     * The claim's predicate evaluated over the table: what the paper quotes.
     *
     * @param reason the numbers that decided it, or what this machine lacks
     */
    record Verdict(Kind kind, String reason) {
        public enum Kind {
            SUPPORTED("SUPPORTED"), NOT_SUPPORTED("NOT SUPPORTED"), NOT_TESTABLE_HERE("NOT TESTABLE HERE");

            public final String label;

            Kind(String label) {
                this.label = label;
            }
        }

        @Override
        public String toString() {
            return kind.label + ": " + reason;
        }
    }
}
