/**
 * Guest memory, after QEMU's memory API: an {@link org.mqblock.memory.AddressSpace} of {@link
 * org.mqblock.memory.RamRegion}s (private, or over memory another process shares) and {@link
 * org.mqblock.memory.MmioRegion}s, accessed through a
 * requester's {@link org.mqblock.memory.Dma}; lock-free {@link org.mqblock.memory.DirtyBitmap}s
 * per {@link org.mqblock.memory.DirtyClient}; a pre-copy {@link
 * org.mqblock.memory.LiveMigration}; and recursive MMIO dispatch across {@code AioContext}s with
 * a selectable {@link org.mqblock.memory.DispatchPolicy} and a {@link
 * org.mqblock.memory.ReentrancyGuard}.
 *
 * <h2>Threads</h2>
 * <ul>
 *   <li><b>Main loop</b>: maps and unmaps regions, starts and stops dirty logs, closes RAM,
 *       pauses and resumes writers, runs a migration. The owner of shared memory unmaps it only
 *       once its region has released it (after the last access and the last zero-copy mapping).
 *   <li><b>Writers</b> (vCPU threads, device handlers in IOThreads): read and write guest memory
 *       through a {@link org.mqblock.memory.Dma}; RAM accesses are lock-free, and a device's MMIO
 *       handler runs holding its owner context.
 *   <li><b>Consumers</b> of dirty bits (the migration, a display): take bits with atomic
 *       exchanges, then a full fence (a volatile RMW does not keep later plain loads after its
 *       store), and read the pages afterwards.
 * </ul>
 *
 * <h2>Ordering vocabulary</h2>
 * Field comments say who writes a field and how others read it: <i>plain</i> (no ordering, one
 * thread or under a lock), <i>opaque</i> (no tearing, no ordering), <i>acquire/release</i>
 * (publication), <i>volatile</i> (sequentially consistent, and where a store must be ordered
 * before a later load: the Dekker pattern of {@link org.mqblock.memory.DirtyBitmap} and {@link
 * org.mqblock.memory.WriteGate}). Every public method's Javadoc has a "Context:" line.
 */
package org.mqblock.memory;
