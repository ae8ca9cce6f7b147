/**
 * Bounded lock-free single-producer / single-consumer rings: {@link org.mqblock.core.ring.SpscRing}
 * for references and {@link org.mqblock.core.ring.SpscLongRing} for primitive {@code long} handles.
 *
 * <h2>Threads</h2>
 * Each ring has exactly one producer thread and one consumer thread at a time. The rings do not
 * check this (a check would cost what the rings exist to save); breaking it loses or duplicates
 * elements. A role may move to another thread only across a happens-before edge (a
 * {@code Thread.start}, a lock hand-off, a volatile flag), as when a queue moves to another
 * IOThread inside a drained section. {@code size()}, {@code isEmpty()} and {@code capacity()} may be
 * called from any thread.
 *
 * <h2>What is guaranteed</h2>
 * Elements come out in the order they went in, each exactly once, and an offer happens-before the
 * poll or drain that returns its element. Single-element operations are linearizable (Lincheck
 * checks them under its sequentially consistent model); a {@code fill} or {@code drain} is
 * linearizable as the sequence of single operations it stands for, not as one atomic step (no
 * CAS-free SPSC ring can make a batch that stops at "full" or "empty" atomic while the other side
 * moves), and it only concludes "full" or "empty" after publishing what it holds.
 *
 * <p>On real hardware acquire/release does not order a failing {@code offer} against a concurrent
 * {@code poll} that finds the ring empty (the store-buffering litmus test: each side may read the
 * other's index or slot from before the other's last store). Ordering them would take a StoreLoad
 * fence on both sides per operation, which no SPSC ring pays (JCTools, Agrona and the Disruptor do
 * not); "full" and "empty" are momentary answers in any case. Code that sleeps when a ring is empty
 * needs its own fenced handshake, as {@code aio_notify}'s {@code notify_me} protocol provides.
 *
 * <h2>Access-mode prefixes</h2>
 * Every access to a field or slot that another thread reads or writes goes through a small method
 * whose prefix names its {@link java.lang.invoke.VarHandle} access mode, so the ordering of each
 * line can be read off the call site (after JCTools):
 * <table>
 *   <caption>prefixes</caption>
 *   <tr><th>prefix</th><th>access</th><th>meaning</th></tr>
 *   <tr><td>{@code lp} / {@code sp}</td><td>plain {@code get} / {@code set}</td>
 *       <td>no ordering; only for data the calling thread owns or that an acquire/release pair
 *       already orders</td></tr>
 *   <tr><td>{@code la}</td><td>{@code getAcquire}</td>
 *       <td>load acquire: later loads and stores stay after it; pairs with an {@code so}</td></tr>
 *   <tr><td>{@code so}</td><td>{@code setRelease}, or {@code releaseFence} then a plain store</td>
 *       <td>store ordered (release, the old {@code lazySet}): earlier loads and stores stay before
 *       it; pairs with an {@code la}. A plain {@code mov} on x86, {@code stlr} (or {@code dmb} and
 *       {@code str}) on AArch64</td></tr>
 *   <tr><td>{@code lv} / {@code sv}</td><td>{@code getVolatile} / {@code setVolatile}</td>
 *       <td>sequentially consistent; the rings need none on their hot paths</td></tr>
 * </table>
 * Each {@code la} and {@code so} call site says in a comment which access it pairs with.
 *
 * <h2>Layout</h2>
 * The fields are spread over a class chain (cold fields, pad, producer fields, pad, consumer
 * fields, pad) so the producer's and the consumer's hot fields sit at least 128 bytes apart: two
 * cache lines, because x86's adjacent-line prefetcher pulls lines in pairs. The element arrays carry
 * 128 bytes of unused slots at each end so that neither the array header (whose {@code length} every
 * bounds check reads) nor a neighbouring object shares a line with slots that the two threads
 * write. {@code SpscRingLayoutTest} checks the distances on the running JVM. {@link
 * org.mqblock.core.ring.SpscLongRing} keeps each slot's state word beside its value, two longs in
 * one line, since no {@code long} can mean "empty".
 *
 * <h2>Slot access</h2>
 * No {@code sun.misc.Unsafe} (its memory-access methods warn on JDK 24+ and are to be removed):
 * fields and slots are reached through {@code VarHandle}s and plain array accesses. What that costs
 * against JCTools' {@code Unsafe} offsets, read off C2's code on JDK 25 (x86): an array bounds check
 * per slot access, which the padding above keeps from being provable ({@code slot} adds the front
 * pad to {@code index & mask}, and C2 does not relate the {@code mask} field to the array's length),
 * but whose length load is independent of the slot address, so the branch is predicted and off the
 * load's critical path; and, for a reference stored into the {@code Object[]}, a comparison of the
 * array's class with {@code Object[]} (a {@code VarHandle} store and a plain {@code aastore} make the
 * same one). The consumer's store of null needs no such check, so {@link
 * org.mqblock.core.ring.SpscRing} writes it plain after a {@code releaseFence}, which orders it as
 * {@code setRelease} would. Computing the index as {@code index & (buffer.length - 1)} instead lets C2
 * drop the bounds check, but only without the pads, and puts the length load on the address's path.
 */
package org.mqblock.core.ring;
