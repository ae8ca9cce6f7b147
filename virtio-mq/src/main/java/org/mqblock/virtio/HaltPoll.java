package org.mqblock.virtio;

/**
 * KVM's halt-polling window for one vCPU ({@code kvm_vcpu_halt} with {@code grow_halt_poll_ns} and
 * {@code shrink_halt_poll_ns} in virt/kvm/kvm_main.c): before a halted vCPU sleeps, the host spins
 * up to {@link #windowNs()} for a wakeup; the window starts at 0, grows after a short halt that
 * slept (×{@value #GROW}, at least {@value #GROW_START_NS} ns, at most the maximum) and drops to 0
 * after a halt longer than the maximum (KVM's {@code halt_poll_ns_shrink} = 0). The maximum is
 * KVM's {@code halt_poll_ns} module parameter, {@value #DEFAULT_MAX_NS} ns on x86; 0 turns
 * polling off. Not threadsafe: one vCPU thread owns it.
 */
public final class HaltPoll {

    /** KVM_HALT_POLL_NS_DEFAULT on x86. */
    public static final long DEFAULT_MAX_NS = 200_000;
    /** KVM's halt_poll_ns_grow. */
    static final int GROW = 2;
    /** KVM's halt_poll_ns_grow_start. */
    static final long GROW_START_NS = 10_000;

    private final long maxNs;
    private long windowNs;

    public HaltPoll(long maxNs) {
        if (maxNs < 0) {
            throw new IllegalArgumentException("halt-poll-ns: invalid value " + maxNs + " (must be >= 0; 0 turns polling off)");
        }
        this.maxNs = maxNs;
    }

    /** How long the next halt spins before it sleeps. */
    public long windowNs() {
        return windowNs;
    }

    /**
     * Adapts the window after a halt that lasted {@code haltNs} from its start to its wakeup,
     * polling and sleeping together (KVM's {@code halt_ns}).
     */
    public void afterHalt(long haltNs) {
        if (maxNs == 0 || haltNs <= windowNs) {
            return; // off, or woken inside the window: it fits
        }
        if (windowNs > 0 && haltNs > maxNs) {
            windowNs = 0; // a long sleep: polling only burnt the CPU
        } else if (windowNs < maxNs && haltNs < maxNs) {
            windowNs = Math.min(maxNs, Math.max(GROW_START_NS, windowNs * GROW)); // a short sleep polling would have caught
        }
    }
}
