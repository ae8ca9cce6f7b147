package org.mqblock.experiments.job;

import java.io.PrintStream;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * fio's live status line, redrawn in place about once a second while a job runs:
 * {@code Jobs: 2 (f=2): [r(2)][45.0%][r=178MiB/s][r=45.6k IOPS][eta 00m:11s]} (one letter per
 * job state: r/R random/sequential read, w/W write, m/M mixed, '/' in the ramp; rates over the
 * last second). Not threadsafe: the main loop only.
 */
public final class StatusLine {

    private static final long PERIOD_NS = 1_000_000_000L;

    private final PrintStream out;
    private JobSpec spec;
    private List<AtomicLongArray> counters;
    private long startNs;
    private long lastNs;
    private final long[] last = new long[4];
    private int width;

    public StatusLine(PrintStream out) {
        this.out = out;
    }

    void start(JobSpec s, List<AtomicLongArray> c, long nowNs) {
        spec = s;
        counters = c;
        startNs = nowNs;
        lastNs = nowNs;
    }

    void tick(long nowNs, long rampEndNs, long endNs) {
        if (nowNs - lastNs < PERIOD_NS) {
            return;
        }
        long[] now = totals();
        double seconds = (nowNs - lastNs) / 1e9;
        double[] rate = new double[4];
        for (int k = 0; k < 4; k++) {
            rate[k] = (now[k] - last[k]) / seconds;
            last[k] = now[k];
        }
        lastNs = nowNs;
        draw(line(nowNs, rampEndNs, endNs, rate));
    }

    private long[] totals() {
        long[] t = new long[4];
        for (AtomicLongArray c : counters) {
            for (int k = 0; k < 4; k++) {
                t[k] += c.getOpaque(k);
            }
        }
        return t;
    }

    String line(long nowNs, long rampEndNs, long endNs, double[] rate) {
        int n = spec.numjobs();
        Rw rw = spec.rw();
        char c = nowNs < rampEndNs ? '/' : rw.reads() && rw.writes() ? 'm' : rw.reads() ? 'r' : 'w';
        if (!rw.random && c != '/') {
            c = Character.toUpperCase(c);
        }
        double total = endNs - startNs;
        double done = Math.min(100.0, 100.0 * (nowNs - startNs) / total);
        long eta = Math.max(0, (endNs - nowNs + 999_999_999L) / 1_000_000_000L);
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "Jobs: %d (f=%d): [%c(%d)][%.1f%%]", n, n, c, n, done));
        boolean r = rw.reads();
        boolean w = rw.writes();
        b.append('[');
        if (r) {
            b.append("r=").append(bandwidth(rate[2]));
        }
        if (w) {
            b.append(r ? "," : "").append("w=").append(bandwidth(rate[3]));
        }
        b.append("][");
        if (r) {
            b.append("r=").append(count(rate[0]));
        }
        if (w) {
            b.append(r ? "," : "").append("w=").append(count(rate[1]));
        }
        b.append(" IOPS][eta ").append(eta(eta)).append(']');
        return b.toString();
    }

    /** fio's eta: {@code 00m:11s}, with hours when there are any. */
    static String eta(long seconds) {
        long h = seconds / 3600;
        long m = seconds / 60 % 60;
        long s = seconds % 60;
        return h > 0 ? String.format(Locale.ROOT, "%dh:%02dm:%02ds", h, m, s) : String.format(Locale.ROOT, "%02dm:%02ds", m, s);
    }

    /** Bytes per second the way fio's status line writes it (power-of-two units, 3-4 significant digits). */
    static String bandwidth(double bytesPerSecond) {
        String[] units = {"B/s", "KiB/s", "MiB/s", "GiB/s", "TiB/s"};
        double v = bytesPerSecond;
        int u = 0;
        while (v >= 1000 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return (v >= 100 || u == 0 ? String.format(Locale.ROOT, "%.0f", v) : String.format(Locale.ROOT, "%.1f", v)) + units[u];
    }

    /** 45612 as {@code 45.6k}, fio style. */
    static String count(double n) {
        if (n >= 1e6) {
            return String.format(Locale.ROOT, "%.1fM", n / 1e6);
        }
        if (n >= 1e3) {
            return String.format(Locale.ROOT, "%.1fk", n / 1e3);
        }
        return String.format(Locale.ROOT, "%.0f", n);
    }

    private void draw(String s) {
        StringBuilder b = new StringBuilder("\r").append(s);
        for (int i = s.length(); i < width; i++) {
            b.append(' '); // a shorter line overwrites all of the longer one before it
        }
        width = s.length();
        out.print(b);
        out.flush();
    }

    /** Ends the line so that what follows starts on its own. */
    void finish() {
        if (width > 0) {
            out.println();
            width = 0;
        }
    }
}
