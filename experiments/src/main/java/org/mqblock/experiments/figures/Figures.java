package org.mqblock.experiments.figures;

import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/** The paper's figures, in order. */
public final class Figures {

    private Figures() {}

    public static final List<Figure> ALL = List.of(new F1IopsVsVcpus(), new F2LatencyVsIodepth(), new F3DeferCall(),
            new F4PollMaxNs(), new F5DirtyTracking(), new F6RecursiveDispatch(), new F7Rings(), new F8RawVsThin(),
            new F9NbdVsQemuNbd(), new F10VhostUserVsQsd());

    /** A figure by id ({@code F3}, {@code f3}) or slug ({@code defer-call}). */
    public static Figure find(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        for (Figure f : ALL) {
            if (f.id().toLowerCase(Locale.ROOT).equals(n) || f.slug().equals(n)) {
                return f;
            }
        }
        throw new IllegalArgumentException("figure '" + name + "' is not one of all, "
                + ALL.stream().map(Figure::id).collect(Collectors.joining(", ")) + " (or their names: "
                + ALL.stream().map(Figure::slug).collect(Collectors.joining(", ")) + ")");
    }
}
