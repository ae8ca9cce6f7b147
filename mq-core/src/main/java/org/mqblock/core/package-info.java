/**
 * mq-core: the runtime every other mqblock module builds on. No dependency on any other module.
 *
 * <ul>
 *   <li>{@link org.mqblock.core.loop}: the event loop ({@code AioContext}), bottom halves, timers,
 *       event notifiers, fd watches and the {@code FdMonitor} SPI, adaptive polling,
 *       {@code DeferCall}, {@code AioWait}, {@code IOThread}, the per-context {@code ThreadPool}.
 *   <li>{@code org.mqblock.core.ring}: the lock-free SPSC rings that feed queues across threads,
 *       and the intrusive MPSC queue behind bottom halves and thread-pool completions.
 * </ul>
 */
package org.mqblock.core;
