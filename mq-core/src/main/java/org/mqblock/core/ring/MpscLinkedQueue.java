package org.mqblock.core.ring;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * An intrusive, unbounded multi-producer single-consumer FIFO (Vyukov's node-based queue).
 *
 * <p>{@link #offer} is wait-free: one atomic exchange and one release store, no loop, no
 * allocation (the element is the node). {@link #poll} is lock-free for the single consumer except
 * in one window: a producer that has swung {@code tail} but not yet linked its predecessor makes
 * the consumer see the queue as momentarily empty ({@code poll} returns null while {@link
 * #isEmpty} stays false). Callers that sleep when the queue is empty must therefore also be woken
 * by the producer after it offers, which is what {@code AioContext.aioNotify()} does.
 *
 * <p>A node may be in at most one queue at a time and may be offered again once the consumer has
 * polled it. Nodes keep their order per producer; across producers the order is that of their
 * exchanges on {@code tail}.
 *
 * <p>Thread rules: any thread may {@link #offer}; one consumer at a time may {@link #poll} and
 * {@link #isEmpty} (the consumer may change over time if each hand-over is ordered by a lock, as
 * {@code AioContext}'s lock does).
 */
public final class MpscLinkedQueue<N extends MpscLinkedQueue.Node> {

    /** A queue element: subclasses carry the payload, this class carries the link. */
    public abstract static class Node {
        /**
         * Written by the producer that links this node's successor (release store in offer) and by
         * the producer offering this node (plain null store, published by the exchange on tail);
         * read by the consumer with acquire (pairs with the release store in offer).
         */
        @SuppressWarnings("unused")
        private Node next;
    }

    private static final class Stub extends Node {}

    private static final VarHandle NEXT;
    private static final VarHandle TAIL;

    static {
        try {
            MethodHandles.Lookup lookup = MethodHandles.lookup();
            NEXT = lookup.findVarHandle(Node.class, "next", Node.class);
            TAIL = lookup.findVarHandle(MpscLinkedQueue.class, "tail", Node.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final Node stub = new Stub();

    /** Consumer only, plain: the next node to hand out, or the stub. */
    private Node head = stub;

    // Padding keeps the contended tail off the line holding head and stub.
    @SuppressWarnings("unused")
    private long p00, p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15;

    /** Any producer: swung with a volatile getAndSet; read by the consumer with a volatile read. */
    @SuppressWarnings("unused")
    private volatile Node tail = stub;

    @SuppressWarnings("unused")
    private long q00, q01, q02, q03, q04, q05, q06, q07, q08, q09, q10, q11, q12, q13, q14, q15;

    /**
     * Appends {@code node}. Context: any thread. Wait-free.
     *
     * <p>The exchange on {@code tail} is a full fence, so everything the producer wrote before
     * (including the node's payload) is visible to a consumer that reaches the node through the
     * acquire load of {@code next}.
     */
    public void offer(N node) {
        NEXT.set(node, (Node) null);
        Node prev = (Node) TAIL.getAndSet(this, node);
        NEXT.setRelease(prev, node); // pairs with the getAcquire of next in poll
    }

    /**
     * Removes and returns the oldest node, or null if the queue is empty or its next node is not
     * linked yet. Context: the consumer.
     */
    @SuppressWarnings("unchecked")
    public N poll() {
        Node h = head;
        Node next = (Node) NEXT.getAcquire(h);
        if (h == stub) {
            if (next == null) {
                return null;
            }
            head = next;
            h = next;
            next = (Node) NEXT.getAcquire(h);
        }
        if (next != null) {
            head = next;
            return (N) h;
        }
        return pollLastSlowPath(h);
    }

    /** {@code h} looked like the last node: re-insert the stub behind it so it can be handed out. */
    @SuppressWarnings("unchecked")
    private N pollLastSlowPath(Node h) {
        if (h != tail) {
            return null; // a producer has swung tail past h but not linked h.next yet
        }
        NEXT.set(stub, (Node) null);
        Node prev = (Node) TAIL.getAndSet(this, stub);
        NEXT.setRelease(prev, stub);
        Node next = (Node) NEXT.getAcquire(h);
        if (next != null) {
            head = next;
            return (N) h;
        }
        return null;
    }

    /**
     * Whether the queue holds no node, counting nodes whose producer has not linked them yet as
     * present. Context: the consumer.
     */
    public boolean isEmpty() {
        return head == stub && tail == stub;
    }
}
