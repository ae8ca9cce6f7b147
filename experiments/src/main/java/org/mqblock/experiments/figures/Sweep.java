package org.mqblock.experiments.figures;

import java.io.PrintStream;
import java.nio.file.Path;
import org.mqblock.experiments.MachineInfo;

/**
 * What a figure's sweep gets from {@code mqb reproduce}: whether to run the quick variant, where to
 * put raw outputs, a log for detail, and the progress bar to step.
 */
public final class Sweep {

    private final boolean quick;
    private final Path dir;
    private final PrintStream log;
    private final Runnable step;
    private final MachineInfo machine;

    public Sweep(boolean quick, Path dir, PrintStream log, Runnable step, MachineInfo machine) {
        this.quick = quick;
        this.dir = dir;
        this.log = log;
        this.step = step;
        this.machine = machine;
    }

    public boolean quick() {
        return quick;
    }

    /** results/&lt;figure&gt;/: raw outputs (fio JSON, JMH JSON) go here beside the CSV. */
    public Path dir() {
        return dir;
    }

    public PrintStream log() {
        return log;
    }

    public MachineInfo machine() {
        return machine;
    }

    public int cpus() {
        return machine.nproc();
    }

    /** One measured point done. */
    public void step() {
        step.run();
    }

    /** The note every scaling figure carries when its sweep goes past this machine's CPUs. */
    public String oversubscribedNote(int largest, String what) {
        return largest > cpus()
                ? "This machine has " + cpus() + " CPUs: points above " + cpus() + " " + what
                        + " are oversubscribed (threads share CPUs) and cannot show scaling; run on a larger machine."
                : "";
    }
}
