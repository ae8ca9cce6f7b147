package org.mqblock.memory;

import java.util.Objects;

/**
 * A guest memory access that could not be carried out (QEMU's {@code MemTxResult} other than
 * {@code MEMTX_OK}). The message names the address, the size and the region involved; {@link
 * #kind()} says what went wrong so that callers (a device model completing a request with an
 * error, an experiment counting refusals) need not parse it.
 *
 * <p>Nothing of the access has taken effect when this is thrown: every check is made before the
 * first byte is read or written, and a refused MMIO dispatch never reaches the handler.
 */
public final class MemoryAccessException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /** Why the access failed. */
    public enum Kind {
        /** No region maps the address ({@code MEMTX_DECODE_ERROR}). */
        UNMAPPED,
        /** The access starts inside a region but ends beyond it. */
        CROSSES_REGION,
        /** An MMIO access of a size other than 1, 2, 4 or 8 bytes. */
        BAD_MMIO_SIZE,
        /** {@link Dma#map} of an MMIO region: only RAM can be mapped for zero-copy access. */
        NOT_MAPPABLE,
        /**
         * The {@link ReentrancyGuard} refused an MMIO dispatch into a device already on the
         * calling thread's dispatch chain (QEMU: "Blocked re-entrant IO").
         */
        REENTRANT,
        /**
         * The thread was interrupted while waiting for an MMIO region's context under {@link
         * DispatchPolicy#NESTED}. Like {@link InterruptedException}, throwing this consumes the
         * interrupt: the thread's interrupt status is clear.
         */
        INTERRUPTED
    }

    private final Kind kind;

    public MemoryAccessException(Kind kind, String message) {
        super(message);
        this.kind = Objects.requireNonNull(kind, "kind");
    }

    public MemoryAccessException(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = Objects.requireNonNull(kind, "kind");
    }

    public Kind kind() {
        return kind;
    }
}
