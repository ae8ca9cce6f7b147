package org.mqblock.core.loop;

/**
 * How an {@link AioContext} sleeps and learns which of its file-descriptor sources are ready
 * (QEMU's {@code FDMonOps}, of which util/fdmon-poll.c and util/fdmon-epoll.c are two
 * implementations). A context has one monitor for its whole life, made by the {@link Factory} it
 * was created with: {@link #SELECTOR}, the pure-Java default that watches {@code java.nio}
 * channels, or the epoll monitor of mq-native, which watches raw fds (eventfds, Unix sockets).
 *
 * <p>The monitor also owns the context's wakeup: {@link AioContext#aioNotify()} calls {@link
 * #wakeup()} at most once per sleep, and that is the only syscall a wakeup makes (an eventfd write
 * for epoll, {@code Selector.wakeup()} or one unpark for the Selector monitor).
 *
 * <p>Threads: {@link #update} and {@link #remove} run in a thread holding the context; {@link
 * #wait} in the home thread with the context's lock released, so that acquirers can enter;
 * {@link #wakeup()} in any thread; {@link #close()} in the closing thread once the home thread has
 * stopped polling.
 */
public interface FdMonitor extends AutoCloseable {

    /** Readable, or accept-ready for a listening socket. Hang-up and error count as both. */
    int READ = 0x001;
    /** Writable, or connect-ready for a connecting socket. */
    int WRITE = 0x004;

    /** Makes the monitor of a new context. */
    @FunctionalInterface
    interface Factory {
        FdMonitor create(AioContext ctx);
    }

    /** The pure-Java monitor over a {@link java.nio.channels.Selector} (opened on first watch). */
    Factory SELECTOR = SelectorMonitor::new;

    /** What it is, as results record it: {@code "selector"}, {@code "epoll"}. */
    String kind();

    /**
     * Called once in the home thread as it binds to the context (an {@link IOThread} as it
     * starts): a monitor may tune the thread that will wait in it (the epoll monitor sets its
     * timer slack to 1 ns, as QEMU does for its threads). Context: the home thread.
     */
    default void onHomeThread() {}

    /**
     * Registers {@code watch}'s source on the first call, and sets the events it asks for
     * ({@link #READ}, {@link #WRITE}; 0 keeps the registration and asks for nothing).
     *
     * @throws IllegalArgumentException for a source this monitor cannot watch (a raw fd on the
     *         Selector monitor, a channel on epoll), naming the source and what to use instead
     */
    void update(FdWatch watch, int events);

    /** Stops watching {@code watch}'s source; the source itself stays open. */
    void remove(FdWatch watch);

    /**
     * Sleeps until a source is ready, {@link #wakeup()} is called, or {@code timeoutNs} passes
     * ({@code -1}: no deadline; {@code 0}: look without sleeping). Adds each ready watch and its
     * ready events to {@code ready} and returns how many it added. A wakeup that came before the
     * call makes it return at once (wakeups are sticky, like an eventfd's count).
     */
    int wait(long timeoutNs, ReadyList ready);

    /**
     * Ends the {@link #wait} in progress, or the next one if none is (sticky). Context: any
     * thread; called by {@link AioContext#aioNotify()} at most once per sleep.
     */
    void wakeup();

    /** Closes what the monitor opened (not the watched sources). */
    @Override
    void close();
}
