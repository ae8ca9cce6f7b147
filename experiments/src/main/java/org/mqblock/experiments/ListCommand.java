package org.mqblock.experiments;

import java.nio.file.Path;
import org.mqblock.experiments.figures.Figure;
import org.mqblock.experiments.figures.Figures;
import org.mqblock.experiments.figures.RecordedVerdict;
import picocli.CommandLine.Command;

/**
 * {@code mqb list}: every figure with its claim, how long reproducing it takes, and the verdict of
 * its last reproduction (from paper/data/&lt;id&gt;.json, the data behind the committed figure).
 */
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
            System.out.println("    " + lastVerdict(RecordedVerdict.file(MachineInfo.repository(), f.id())));
        }
    }

    /** The verdict recorded by the figure's last reproduction, with where it was measured. */
    static String lastVerdict(Path json) {
        return RecordedVerdict.read(json).map(v -> "last verdict: " + v.kind() + " - " + v.reason() + " (" + v.where() + ")")
                .orElse("verdict: none recorded (not reproduced since verdicts are: run ./mqb reproduce)");
    }
}
