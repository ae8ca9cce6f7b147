package org.mqblock.core.loop;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A context's event sources (util/aio-posix.c's handler list): flag event notifiers, fd watches,
 * and those of them that can be busy-polled; their dispatch after a wait, and the polling phase.
 * Every field is plain and touched only by the thread holding the context; the ready lists
 * only by the home thread in its poll.
 */
final class Sources {

    private final AioContext ctx;
    private EventNotifier[] notifiers = new EventNotifier[0]; // flag notifiers, copy-on-write
    private PollSource[] pollSources = new PollSource[0];    // sources with a PollHandler, copy-on-write
    private final List<FdWatch> watches = new ArrayList<>();
    private int pollDisableCount; // sources without a PollHandler: busy polling would starve them
    private boolean externalApplied;

    /** What the monitor found ready; nested polls keep the outer poll's entries below their base. */
    final ReadyList ready = new ReadyList();
    private PollSource[] pollReady = new PollSource[16];
    private int pollReadyCount;

    Sources(AioContext ctx) {
        this.ctx = ctx;
    }

    // ---------------------------------------------------------------------------------------
    // Registration

    void addNotifier(EventNotifier n, PollHandler pollHandler) {
        notifiers = append(notifiers, n);
        addPollSource(n, pollHandler);
    }

    void removeNotifier(EventNotifier n) {
        notifiers = remove(notifiers, n);
        removePollSource(n, n.pollHandler);
    }

    /** Registers with the monitor (which may refuse the source) and then here. */
    void addWatch(FdWatch w) {
        w.applyInterest(ctx.externalDisabled());
        watches.add(w);
        addPollSource(w, w.pollHandler);
    }

    void removeWatch(FdWatch w) {
        watches.remove(w);
        removePollSource(w, w.pollHandler);
    }

    boolean hasWatches() {
        return !watches.isEmpty();
    }

    /** Forgets every source, for close. */
    void clear() {
        for (EventNotifier n : notifiers) {
            n.unregister();
        }
        notifiers = new EventNotifier[0];
        for (FdWatch w : new ArrayList<>(watches)) {
            w.close();
        }
    }

    private void addPollSource(PollSource s, PollHandler pollHandler) {
        if (pollHandler == null) {
            pollDisableCount++;
        } else {
            pollSources = append(pollSources, s);
        }
    }

    private void removePollSource(PollSource s, PollHandler pollHandler) {
        if (pollHandler == null) {
            pollDisableCount--;
        } else {
            pollSources = remove(pollSources, s);
        }
    }

    /** Brings fd interest in line with the external-disable state; returns that state. */
    boolean applyExternalState() {
        boolean disabled = ctx.externalDisabled();
        if (disabled != externalApplied) {
            externalApplied = disabled;
            for (FdWatch w : watches) {
                w.applyInterest(disabled);
            }
        }
        return disabled;
    }

    // ---------------------------------------------------------------------------------------
    // Busy polling (run_poll_handlers)

    /** Whether every source can be busy-polled (QEMU's rule: one without io_poll forbids it). */
    boolean canBusyPoll() {
        return pollDisableCount == 0;
    }

    PollSource[] pollSources() {
        return pollSources;
    }

    static void pollBegin(PollSource[] sources, boolean externalDisabled) {
        for (PollSource s : sources) {
            if (!(s.external() && externalDisabled)) {
                s.pollHandler().pollBegin();
            }
        }
    }

    static void pollEnd(PollSource[] sources, boolean externalDisabled) {
        for (PollSource s : sources) {
            if (!(s.external() && externalDisabled)) {
                s.pollHandler().pollEnd();
            }
        }
    }

    /** Calls each poll handler once; those with work are dispatched later in this poll. */
    boolean pollOnce(PollSource[] sources, boolean externalDisabled) {
        boolean found = false;
        for (PollSource s : sources) {
            if (!(s.external() && externalDisabled) && s.pollHandler().poll()) {
                if (pollReadyCount == pollReady.length) {
                    pollReady = Arrays.copyOf(pollReady, pollReadyCount * 2);
                }
                pollReady[pollReadyCount++] = s;
                found = true;
            }
        }
        return found;
    }

    int pollReadyMark() {
        return pollReadyCount;
    }

    void truncatePollReady(int base) {
        Arrays.fill(pollReady, base, pollReadyCount, null);
        pollReadyCount = base;
    }

    // ---------------------------------------------------------------------------------------
    // Dispatch: each handler alone, a failure reported and the rest still run

    boolean dispatchReady(int base) {
        boolean progress = false;
        int end = ready.size();
        boolean externalDisabled = ctx.externalDisabled();
        for (int i = base; i < end; i++) {
            FdWatch w = ready.watch(i);
            try {
                progress |= w.dispatch(ready.events(i), externalDisabled);
            } catch (Throwable t) {
                ctx.handlerFailed(w, t);
            }
        }
        return progress;
    }

    boolean dispatchEventNotifiers() {
        boolean progress = false;
        for (EventNotifier n : notifiers) {
            if (n.context() == ctx && !(n.external && ctx.externalDisabled()) && n.testAndClear()) {
                progress = true;
                try {
                    n.handler.run();
                } catch (Throwable t) {
                    ctx.handlerFailed(n, t);
                }
            }
        }
        return progress;
    }

    /** Runs the handlers whose poll function found work ({@code io_poll_ready}). */
    boolean dispatchPollReady(int base) {
        int end = pollReadyCount;
        boolean externalDisabled = ctx.externalDisabled();
        for (int i = base; i < end; i++) {
            PollSource s = pollReady[i];
            try {
                s.runPolled(externalDisabled);
            } catch (Throwable t) {
                ctx.handlerFailed(s, t);
            }
        }
        return end > base;
    }

    private static <T> T[] append(T[] a, T n) {
        T[] b = Arrays.copyOf(a, a.length + 1);
        b[a.length] = n;
        return b;
    }

    private static <T> T[] remove(T[] a, T n) {
        T[] b = Arrays.copyOf(a, a.length - 1);
        for (int i = 0, j = 0; i < a.length; i++) {
            if (a[i] != n) {
                b[j++] = a[i];
            }
        }
        return b;
    }
}
