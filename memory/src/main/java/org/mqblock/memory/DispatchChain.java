package org.mqblock.memory;

/**
 * The devices whose I/O is under way on the calling thread, innermost last: a device's guarded
 * bottom half or its DMA pushes it, an MMIO dispatch pushes the target while its handler runs.
 * Because a recursive dispatch under {@link DispatchPolicy#RELEASE_REACQUIRE} runs the foreign
 * handler on the calling thread (it hops contexts, not threads), the chain A, B of "A's DMA runs
 * B's handler" is on that thread's stack when B's handler DMAs back into A, and the {@link
 * ReentrancyGuard} can see it.
 *
 * <p>Not thread-safe; there is one per thread, and only that thread touches it.
 */
final class DispatchChain {

    private static final ThreadLocal<DispatchChain> CURRENT = ThreadLocal.withInitial(DispatchChain::new);

    private ReentrancyGuard[] stack = new ReentrancyGuard[8];
    private int depth;

    static DispatchChain current() {
        return CURRENT.get();
    }

    boolean contains(ReentrancyGuard g) {
        for (int i = depth - 1; i >= 0; i--) {
            if (stack[i] == g) {
                return true;
            }
        }
        return false;
    }

    void push(ReentrancyGuard g) {
        if (depth == stack.length) {
            stack = java.util.Arrays.copyOf(stack, depth * 2);
        }
        stack[depth++] = g;
    }

    void pop(ReentrancyGuard g) {
        if (depth == 0 || stack[depth - 1] != g) {
            throw new IllegalStateException("dispatch chain corrupted: popping " + g.device() + " from " + describe(null));
        }
        stack[--depth] = null;
    }

    int depth() {
        return depth;
    }

    /** {@code A -> B -> A}: the chain, then {@code next}. */
    String describe(ReentrancyGuard next) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < depth; i++) {
            if (i > 0) {
                sb.append(" -> ");
            }
            sb.append(stack[i].device());
        }
        if (next != null) {
            sb.append(depth > 0 ? " -> " : "").append(next.device());
        }
        return sb.toString();
    }
}
