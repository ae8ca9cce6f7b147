package org.mqblock.experiments.img;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.util.concurrent.Callable;
import org.mqblock.nativeio.NativeException;
import picocli.CommandLine;

/**
 * What every {@code mqb img} subcommand shares: a failure is one line on stderr prefixed
 * {@code mqb img:} (as qemu-img prefixes {@code qemu-img:}) and exit status 1, and a subcommand
 * whose exit status carries a verdict ({@code check}) returns it from {@link #execute}.
 */
abstract class ImgSubcommand implements Callable<Integer> {

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @CommandLine.Option(names = {"-q", "--quiet"}, description = "Print nothing but errors.")
    boolean quiet;

    /** Runs the subcommand; returns its exit status. */
    abstract int execute() throws IOException;

    @Override
    public final Integer call() {
        try {
            return execute();
        } catch (IOException | IllegalArgumentException | UncheckedIOException | IllegalStateException | NativeException e) {
            String m = e.getMessage();
            spec.commandLine().getErr().println("mqb img: " + (m == null ? e.toString() : m));
            spec.commandLine().getErr().flush();
            return 1;
        }
    }

    /** Standard output, unless {@code -q}. */
    PrintStream out() {
        return quiet ? new PrintStream(PrintStream.nullOutputStream()) : System.out;
    }
}
