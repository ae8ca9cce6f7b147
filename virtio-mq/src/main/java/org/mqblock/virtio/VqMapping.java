package org.mqblock.virtio;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Which IOThread serves each virtqueue (QEMU's {@code iothread-vq-mapping}): round-robin, or an
 * explicit list of IOThreads each with its virtqueues. An explicit mapping is validated before
 * use, with an error that names the virtqueue or IOThread at fault: a virtqueue index out of
 * range, a virtqueue given to two IOThreads, a virtqueue given to none, an IOThread that does not
 * exist or appears twice.
 */
public final class VqMapping {

    private final int[] iothreadOf;

    private VqMapping(int[] iothreadOf) {
        this.iothreadOf = iothreadOf;
    }

    /** Virtqueue {@code i} on IOThread {@code i mod iothreads}. */
    public static VqMapping roundRobin(int numQueues, int iothreads) {
        if (numQueues < 1 || iothreads < 1) {
            throw new IllegalArgumentException("need at least one virtqueue and one IOThread, got " + numQueues + " and " + iothreads);
        }
        int[] m = new int[numQueues];
        for (int q = 0; q < numQueues; q++) {
            m[q] = q % iothreads;
        }
        return new VqMapping(m);
    }

    /**
     * Parses {@code round-robin} or {@code io0:0,2;io1:1,3} (IOThread id, colon, its virtqueues;
     * entries separated by semicolons) against the IOThreads that exist.
     *
     * @throws IllegalArgumentException naming the problem
     */
    public static VqMapping parse(String spec, int numQueues, List<String> iothreads) {
        if (spec.equals("round-robin")) {
            return roundRobin(numQueues, iothreads.size());
        }
        Map<String, int[]> entries = new LinkedHashMap<>();
        for (String entry : spec.split(";")) {
            int colon = entry.indexOf(':');
            if (colon <= 0) {
                throw new IllegalArgumentException("vq mapping entry '" + entry + "' should be IOTHREAD:VQ[,VQ...]");
            }
            String id = entry.substring(0, colon).trim();
            int[] vqs;
            try {
                vqs = Arrays.stream(entry.substring(colon + 1).split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("vq mapping entry '" + entry + "': virtqueue indices must be integers");
            }
            if (entries.put(id, vqs) != null) {
                throw new IllegalArgumentException("IOThread '" + id + "' appears more than once in the vq mapping");
            }
        }
        return explicit(numQueues, iothreads, entries);
    }

    /** An explicit mapping: IOThread id to the virtqueues it serves. */
    public static VqMapping explicit(int numQueues, List<String> iothreads, Map<String, int[]> assignments) {
        int[] m = new int[numQueues];
        Arrays.fill(m, -1);
        for (Map.Entry<String, int[]> e : assignments.entrySet()) {
            int t = iothreads.indexOf(e.getKey());
            if (t < 0) {
                throw new IllegalArgumentException("vq mapping names IOThread '" + e.getKey() + "', which does not exist; IOThreads: "
                        + iothreads);
            }
            for (int vq : e.getValue()) {
                if (vq < 0 || vq >= numQueues) {
                    throw new IllegalArgumentException("virtqueue " + vq + " given to IOThread '" + e.getKey()
                            + "' does not exist: num_queues is " + numQueues);
                }
                if (m[vq] >= 0) {
                    throw new IllegalArgumentException("virtqueue " + vq + " is given to IOThread '" + e.getKey()
                            + "' but is already served by IOThread '" + iothreads.get(m[vq]) + "'");
                }
                m[vq] = t;
            }
        }
        List<Integer> missing = new ArrayList<>();
        for (int vq = 0; vq < numQueues; vq++) {
            if (m[vq] < 0) {
                missing.add(vq);
            }
        }
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException((missing.size() > 1 ? "virtqueues " + missing : "virtqueue " + missing.get(0))
                    + " not given to any IOThread in the vq mapping");
        }
        return new VqMapping(m);
    }

    public int numQueues() {
        return iothreadOf.length;
    }

    /** The IOThread (index into the list the mapping was made for) serving virtqueue {@code vq}. */
    public int iothreadOf(int vq) {
        return iothreadOf[vq];
    }

    /** How many distinct IOThreads serve at least one virtqueue. */
    public int iothreadsUsed() {
        Set<Integer> s = new HashSet<>();
        for (int t : iothreadOf) {
            s.add(t);
        }
        return s.size();
    }

    @Override
    public String toString() {
        return "VqMapping" + Arrays.toString(iothreadOf);
    }
}
