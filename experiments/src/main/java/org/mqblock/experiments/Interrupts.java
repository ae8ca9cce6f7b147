package org.mqblock.experiments;

import java.util.ArrayList;
import java.util.List;
import org.mqblock.experiments.job.StopRequest;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * Ctrl-C (SIGINT) and SIGTERM while a job runs, handled as fio handles them: say so on stderr
 * ({@code mqb: terminating on signal 2}), end the window, and let the command report and write
 * what was measured; a second signal ends the process at once with 128 + the signal, as the
 * default handler would. Restores the previous handlers on {@link #close()}.
 *
 * <p>Context: {@link #install} and {@link #close} on the main loop; the handlers run on the JVM's
 * signal thread and only write stderr and the stop request (volatile).
 */
final class Interrupts implements AutoCloseable {

    private final List<Signal> signals = new ArrayList<>();
    private final List<SignalHandler> previous = new ArrayList<>();

    private Interrupts() {}

    static Interrupts install(StopRequest stop) {
        Interrupts i = new Interrupts();
        for (String name : new String[] {"INT", "TERM"}) {
            Signal s = new Signal(name);
            SignalHandler h = sig -> {
                if (stop.requested()) {
                    Runtime.getRuntime().halt(128 + sig.getNumber());
                }
                System.err.println("\nmqb: terminating on signal " + sig.getNumber());
                stop.request();
            };
            try {
                i.previous.add(Signal.handle(s, h));
                i.signals.add(s);
            } catch (IllegalArgumentException e) {
                // the JVM keeps this signal (-Xrs): the default handling stays
            }
        }
        return i;
    }

    @Override
    public void close() {
        for (int k = 0; k < signals.size(); k++) {
            Signal.handle(signals.get(k), previous.get(k));
        }
    }
}
