package org.mqblock.virtio;

/**
 * The guest broke the virtio protocol ({@code virtio_error}): a malformed descriptor chain, an
 * impossible index, a request without its headers. The device that sees it marks itself broken
 * (needs reset) and stops serving; its IOThread and every other device carry on.
 */
public final class VirtioError extends RuntimeException {
    public VirtioError(String message) {
        super(message);
    }

    public VirtioError(String message, Throwable cause) {
        super(message, cause);
    }
}
