package org.mqblock.experiments.job;

/**
 * A request to end a running job early (Ctrl-C or SIGTERM in {@code mqb run}): the window ends
 * when the main loop sees it, the requests in flight drain, and what was measured is reported,
 * marked interrupted. {@link #request()} is called from any thread (a signal handler's); the main
 * loop reads the flag (volatile).
 */
public final class StopRequest {

    private volatile boolean requested;

    /** Context: any thread. */
    public void request() {
        requested = true;
    }

    public boolean requested() {
        return requested;
    }
}
