/**
 * Workloads that drive this module's parts the way the experiments measure them and the tests
 * check them: writers marking pages while a migration-style consumer takes the bitmap
 * ({@link org.mqblock.memory.workload.MarkingWorkload}), and two devices in two IOThreads
 * DMA-ing into each other's registers ({@link org.mqblock.memory.workload.CrossDeviceDma}). The
 * figures of the experiments module time them; this module's tests assert what they must keep
 * (no mark lost, no deadlock under release-reacquire).
 */
package org.mqblock.memory.workload;
