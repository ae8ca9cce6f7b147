package org.mqblock.experiments;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.mqblock.experiments.figures.Figure;
import org.mqblock.experiments.figures.Figures;
import org.mqblock.experiments.figures.Reproducer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code mqb reproduce <fig>|all [--quick]}: runs figure sweeps and writes results/&lt;fig&gt;/ and
 * paper/figures/&lt;fig&gt;.{png,pdf}. With several figures, a failing one is reported and the
 * others still run; the exit status says whether all succeeded.
 */
@Command(name = "reproduce", mixinStandardHelpOptions = true,
        description = "Run figure sweeps: results/<fig>/ (JSON, CSV, raw runs) and paper/figures/<fig>.{png,pdf}.")
final class ReproduceCommand implements Callable<Integer> {

    @Parameters(arity = "1..*", paramLabel = "FIGURE", description = "F1..F9, a figure's name, or all (see mqb list)")
    List<String> names;

    @Option(names = "--quick", description = "short runs and fewer points: a smoke test of every figure")
    boolean quick;

    @CommandLine.Spec CommandLine.Model.CommandSpec cmd;

    @Override
    public Integer call() {
        List<Figure> figures = new ArrayList<>();
        for (String n : names) {
            if (n.equalsIgnoreCase("all")) {
                figures.addAll(Figures.ALL);
            } else {
                try {
                    figures.add(Figures.find(n));
                } catch (IllegalArgumentException e) {
                    throw new CommandLine.ParameterException(cmd.commandLine(), e.getMessage(), e);
                }
            }
        }
        MachineInfo machine = MachineInfo.current();
        System.out.println("machine: " + machine.describe());
        Reproducer r = new Reproducer(Reproducer.root(), machine, System.out);
        List<String> failed = new ArrayList<>();
        for (Figure f : figures) {
            try {
                r.reproduce(f, quick);
            } catch (Exception | Error e) {
                failed.add(f.id());
                System.out.println(f.id() + " FAILED: " + e);
                e.printStackTrace();
            }
        }
        if (!failed.isEmpty()) {
            System.out.println("failed: " + String.join(", ", failed));
            return 1;
        }
        return 0;
    }
}
