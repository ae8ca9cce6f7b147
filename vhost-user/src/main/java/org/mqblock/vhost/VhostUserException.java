package org.mqblock.vhost;

/**
 * The peer broke the vhost-user protocol (a short or oversized message, a missing fd, an address
 * outside the memory table) or closed the socket in the middle of a message. The side that sees
 * it drops that connection; nothing else is affected.
 */
public final class VhostUserException extends RuntimeException {
    public VhostUserException(String message) {
        super(message);
    }

    public VhostUserException(String message, Throwable cause) {
        super(message, cause);
    }
}
