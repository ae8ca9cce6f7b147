package org.mqblock.experiments.guest;

import java.io.IOException;

/**
 * A guest that did not finish its test: QEMU would not start, exited before the guest reported
 * its status, or ran past its timeout and was killed. The message ends with the console's tail.
 */
public final class GuestException extends IOException {

    private static final long serialVersionUID = 1L;

    private final String consoleTail;

    GuestException(String message, String consoleTail) {
        super(message + "\n--- console tail ---\n" + consoleTail);
        this.consoleTail = consoleTail;
    }

    /** The last lines QEMU and the guest printed. */
    public String consoleTail() {
        return consoleTail;
    }
}
