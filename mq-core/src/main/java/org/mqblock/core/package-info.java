/**
 * mq-core: the runtime every other mqblock module builds on. No dependency on any other module.
 *
 * <ul>
 *   <li>{@link org.mqblock.core.loop}: the event loop ({@code AioContext}), bottom halves, timers,
 *       event notifiers, channel watches, adaptive polling, {@code DeferCall}, {@code AioWait},
 *       {@code IOThread}.
 *   <li>{@link org.mqblock.core.pool}: the per-context thread pool for blocking work.
 *   <li>{@code org.mqblock.core.ring}: the lock-free SPSC rings that feed queues across threads.
 * </ul>
 */
package org.mqblock.core;
