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

    /**
     * The claim the figure tests, in one sentence that states the predicate {@link #judge}
     * evaluates (thresholds included), and nothing measured elsewhere.
     */
    String claim();

    /** Measured points (progress-bar steps) of a run: the size of the figure's {@link Grid}s. */
    int steps(boolean quick);

    /** Expected wall time on a 2-core machine, e.g. {@code "~40 s"}. */
    String expectedRuntime(boolean quick);

    /** The table's columns, in CSV order: the figure's one declaration of them (CI checks them). */
    Columns columns();

    /** Runs the sweep, calling {@link Sweep#step} once per point. */
    Outcome run(Sweep sweep) throws Exception;

    /** Evaluates the claim over what the sweep measured, on the machine it ran on. */
    Verdict judge(Table table, Sweep sweep);

    /**
     * What a sweep produced.
     *
     * @param findings sentences computed from the data (ratios, counts) for the paper and README
     * @param notes limits of this run, e.g. points beyond the machine's CPUs
     */
    record Outcome(Table table, List<Panel> panels, List<String> findings, List<String> notes) {}
}
