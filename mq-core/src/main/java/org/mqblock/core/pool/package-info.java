/** Thread pools whose completions come back to an event loop (QEMU's util/thread-pool.c). */
package org.mqblock.core.pool;
