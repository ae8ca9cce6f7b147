package org.mqblock.experiments;

import org.mqblock.experiments.figures.Figure;
import org.mqblock.experiments.figures.Figures;
import picocli.CommandLine.Command;

/** {@code mqb list}: every figure with its claim and how long reproducing it takes. */
@Command(name = "list", mixinStandardHelpOptions = true,
        description = "List the paper's figures: claim and expected runtime (full and --quick).")
final class ListCommand implements Runnable {

    @Override
    public void run() {
        int cpus = Runtime.getRuntime().availableProcessors();
        System.out.println("Figures (mqb reproduce <id>|all [--quick]); runtimes measured on a 2-CPU machine, this one has "
                + cpus + ":");
        for (Figure f : Figures.ALL) {
            System.out.printf("%n%-3s %-22s full %-9s quick %s%n", f.id(), f.slug(), f.expectedRuntime(false),
                    f.expectedRuntime(true));
            System.out.println("    " + f.claim());
        }
    }
}
