package org.mqblock.block;

/**
 * Completion statuses, as negative errno values the way QEMU's block layer returns them: 0 is
 * success, anything negative an error the caller maps to its protocol (virtio IOERR/UNSUPP, an NBD
 * error code).
 */
public final class BlockStatus {
    public static final int OK = 0;
    /** An I/O error, or a request reaching past the end of the device. */
    public static final int EIO = -5;
    /** A malformed request: misaligned, negative, or too long for the driver. */
    public static final int EINVAL = -22;
    /** The image cannot grow to hold the data. */
    public static final int ENOSPC = -28;
    /** The driver does not implement the operation. */
    public static final int ENOTSUP = -95;
    /** Cancelled before it started. */
    public static final int ECANCELED = -125;

    private BlockStatus() {}

    /** A readable name for a status ("OK", "EIO", ... or "errno -n"). */
    public static String name(int status) {
        return switch (status) {
            case OK -> "OK";
            case EIO -> "EIO";
            case EINVAL -> "EINVAL";
            case ENOSPC -> "ENOSPC";
            case ENOTSUP -> "ENOTSUP";
            case ECANCELED -> "ECANCELED";
            default -> status > 0 ? "OK(" + status + ")" : "errno " + status;
        };
    }
}
