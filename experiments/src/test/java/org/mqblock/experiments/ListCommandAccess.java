package org.mqblock.experiments;

import java.nio.file.Path;

/** Lets tests in other packages read what {@code mqb list} prints of a figure's last verdict. */
public final class ListCommandAccess {
    private ListCommandAccess() {}

    public static String lastVerdict(Path json) {
        return ListCommand.lastVerdict(json);
    }
}
