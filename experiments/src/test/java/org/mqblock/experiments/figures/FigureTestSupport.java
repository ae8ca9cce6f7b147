package org.mqblock.experiments.figures;

import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import org.mqblock.experiments.MachineInfo;

/** A quick sweep into a temporary directory that counts its steps. */
final class FigureTestSupport {

    private FigureTestSupport() {}

    /** Incremented by the sweep's (main) thread on each step; read by the test afterwards. */
    static Sweep quickSweep(Path dir, AtomicInteger steps) {
        return new Sweep(true, dir, new PrintStream(OutputStream.nullOutputStream()), steps::incrementAndGet,
                MachineInfo.current());
    }
}
