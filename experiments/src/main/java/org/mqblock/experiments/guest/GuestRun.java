package org.mqblock.experiments.guest;

import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What one guest boot reported (see scripts/guest/init for the markers).
 *
 * @param status the test's exit status ({@code MQB-STATUS})
 * @param sections the result sections by name, in the order printed ({@code MQB-BEGIN/END})
 * @param marks the points the test marked, with the host time the harness saw each
 * @param errors what /init could not do ({@code MQB-ERROR}: a module, a missing disk)
 * @param console the file holding everything QEMU and the guest printed
 * @param bootSeconds host time from starting QEMU to the guest's /init ({@code MQB-INIT})
 * @param readySeconds host time from starting QEMU to the test's start ({@code MQB-READY})
 * @param wallSeconds host time from starting QEMU to its exit (or to the kill)
 * @param poweredOff whether QEMU exited by itself after the status (the guest's poweroff)
 * @param command the QEMU command line, to rerun it by hand
 */
public record GuestRun(int status, Map<String, String> sections, List<Mark> marks, List<String> errors, Path console,
        double bootSeconds, double readySeconds, double wallSeconds, boolean poweredOff, List<String> command) {

    /**
     * A point of the test ({@code mqb_mark NAME}).
     *
     * @param name what the test called it
     * @param hostNanos {@link System#nanoTime()} when the harness read the line
     * @param guestUptime the guest's /proc/uptime when it printed it
     */
    public record Mark(String name, long hostNanos, double guestUptime) {}

    public GuestRun {
        sections = Collections.unmodifiableMap(new LinkedHashMap<>(sections));
        marks = List.copyOf(marks);
        errors = List.copyOf(errors);
        command = List.copyOf(command);
    }

    /** The test exited 0 and /init reported nothing wrong. */
    public boolean ok() {
        return status == 0 && errors.isEmpty();
    }

    /** Section {@code name}; throws, naming the sections there are, when the guest printed none. */
    public String section(String name) {
        String s = sections.get(name);
        if (s == null) {
            throw new IllegalStateException("the guest printed no section '" + name + "' (it printed "
                    + sections.keySet() + ", status " + status + "; console: " + console + ")");
        }
        return s;
    }

    /** The mark named {@code name}; throws when the test printed none. */
    public Mark mark(String name) {
        return marks.stream().filter(m -> m.name().equals(name)).findFirst().orElseThrow(
                () -> new IllegalStateException("the guest printed no mark '" + name + "' (console: " + console + ")"));
    }
}
