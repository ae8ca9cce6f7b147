package org.mqblock.experiments;

import picocli.CommandLine.Command;

/** {@code mqb demo}: placeholder until the event loop lands. */
@Command(name = "demo", description = "Event-loop demo.")
final class DemoCommand implements Runnable {
    @Override
    public void run() {
        System.out.println(MachineInfo.current().describe());
    }
}
