package org.mqblock.experiments;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code mqb} command: the entry point of everything a user runs (see the README).
 *
 * <p>Subcommands print what they measured and the machine they measured it on; a bad option names
 * itself and, where it takes one of a set of values, the values it accepts.
 */
@Command(
        name = "mqb",
        mixinStandardHelpOptions = true,
        versionProvider = Mqb.Version.class,
        description = "mqblock: a multiqueue block layer and its experiments.",
        subcommands = {CompareCommand.class, RunCommand.class, ListCommand.class, ReproduceCommand.class,
                ServeCommand.class, GuestCommand.class, DemoCommand.class, JmhCommand.class, MachineCommand.class, RingBenchCommand.class,
                ImgCommand.class})
public final class Mqb implements Runnable {

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The configured command line; tests drive it the same way {@link #main} does. */
    public static CommandLine commandLine() {
        return new CommandLine(new Mqb()).setCaseInsensitiveEnumValuesAllowed(true);
    }

    /** Without a subcommand, runs the main job: mq against the single-queue baselines. */
    @Override
    public void run() {
        System.out.println("(no subcommand: running the default job, 'mqb compare'; 'mqb --help' lists the others)");
        int status = spec.commandLine().getSubcommands().get("compare").execute();
        if (status != 0) {
            throw new CommandLine.ExecutionException(spec.commandLine(), "the default job failed");
        }
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"mqb " + MachineInfo.gitCommit()};
        }
    }
}
