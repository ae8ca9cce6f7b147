package org.mqblock.experiments;

import picocli.CommandLine.Command;

/** {@code mqb machine}: prints the description every result file carries. */
@Command(name = "machine", description = "Print the machine description recorded with every result.")
final class MachineCommand implements Runnable {
    @Override
    public void run() {
        System.out.println(MachineInfo.current().toJson());
    }
}
