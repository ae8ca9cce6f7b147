package org.mqblock.core.loop;

/**
 * A source the loop may busy-poll: an {@link EventNotifier} or an {@link FdWatch} registered with
 * a {@link PollHandler}. Context: the thread holding the context.
 */
abstract class PollSource {

    abstract PollHandler pollHandler();

    abstract boolean external();

    /** Runs the source's handler after its poll handler reported work ({@code io_poll_ready}). */
    abstract void runPolled(boolean externalDisabled);
}
