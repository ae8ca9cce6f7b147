/**
 * The event loop, after QEMU's AioContext (include/block/aio.h, util/async.c, util/aio-posix.c).
 *
 * <p>Thread rules, stated once: each {@link org.mqblock.core.loop.AioContext} is polled by its
 * home thread only, and its handlers (bottom halves, timers, notifier and channel handlers) run
 * there holding the context's lock. Other threads reach a context through wait-free operations
 * (schedule a bottom half, set an event notifier, {@code aioNotify}) or by acquiring it. Every
 * public method says its calling context in a "Context:" line. Shared fields say who writes them
 * and how others read them.
 */
package org.mqblock.core.loop;
