package org.mqblock.vhost;

/**
 * One-line descriptions of vhost-user messages for the protocol trace ({@code
 * -Dmqblock.vhost.trace=true}): the request, its flags, and its payload decoded by layout, e.g.
 * {@code SET_VRING_ADDR [need-reply] vq 0 desc 0x7f..000 used 0x7f..240 avail 0x7f..200 flags 0x0}.
 * A payload too short for its layout is described as such, never an exception: the trace runs
 * before the handler validates. Stateless; any thread.
 */
final class VhostUserTrace {

    /** Whether the protocol trace is on for exports created from now on (a system property). */
    static boolean enabledByProperty() {
        return Boolean.getBoolean("mqblock.vhost.trace");
    }

    private VhostUserTrace() {}

    static String describe(VhostUserMessage m) {
        StringBuilder sb = new StringBuilder(m.name());
        if (m.isReply()) {
            sb.append(" [reply]");
        }
        if (m.needsReply()) {
            sb.append(" [need-reply]");
        }
        try {
            payload(m, sb);
        } catch (VhostUserException e) {
            sb.append(" (").append(Integer.toUnsignedString(m.size())).append("-byte payload, malformed)");
        }
        if (m.fdCount() > 0) {
            sb.append(", ").append(m.fdCount()).append(m.fdCount() == 1 ? " fd" : " fds");
        }
        return sb.toString();
    }

    private static void payload(VhostUserMessage m, StringBuilder sb) {
        int size = m.size();
        if (m.isReply() && !VhostUser.hasReply(m.request()) && size == VhostUser.U64_SIZE) {
            sb.append(m.u64(0) == 0 ? " ack ok" : " ack failed (" + m.u64(0) + ")"); // REPLY_ACK
            return;
        }
        switch (m.request()) {
            case VhostUser.GET_FEATURES, VhostUser.SET_FEATURES, VhostUser.GET_PROTOCOL_FEATURES,
                 VhostUser.SET_PROTOCOL_FEATURES, VhostUser.GET_QUEUE_NUM -> {
                if (size == VhostUser.U64_SIZE) {
                    sb.append(" 0x").append(Long.toHexString(m.u64(0)));
                }
            }
            case VhostUser.SET_VRING_NUM, VhostUser.SET_VRING_BASE, VhostUser.GET_VRING_BASE,
                 VhostUser.SET_VRING_ENABLE -> {
                if (size == VhostUser.STATE_SIZE) {
                    sb.append(" vq ").append(Integer.toUnsignedString(m.u32(VhostUser.STATE_INDEX)))
                            .append(" num ").append(Integer.toUnsignedString(m.u32(VhostUser.STATE_NUM)));
                }
            }
            case VhostUser.SET_VRING_ADDR -> sb.append(" vq ").append(Integer.toUnsignedString(m.u32(VhostUser.ADDR_INDEX)))
                    .append(" desc 0x").append(Long.toHexString(m.u64(VhostUser.ADDR_DESC)))
                    .append(" used 0x").append(Long.toHexString(m.u64(VhostUser.ADDR_USED)))
                    .append(" avail 0x").append(Long.toHexString(m.u64(VhostUser.ADDR_AVAIL)))
                    .append(" flags 0x").append(Integer.toHexString(m.u32(VhostUser.ADDR_FLAGS)));
            case VhostUser.SET_VRING_KICK, VhostUser.SET_VRING_CALL, VhostUser.SET_VRING_ERR -> {
                long v = m.u64(0);
                sb.append(" vq ").append(v & VhostUser.VRING_IDX_MASK);
                if ((v & VhostUser.VRING_NOFD_MASK) != 0) {
                    sb.append(" no-fd");
                }
            }
            case VhostUser.SET_MEM_TABLE -> {
                int n = m.u32(VhostUser.MEM_NREGIONS);
                sb.append(' ').append(Integer.toUnsignedString(n)).append(" regions");
                for (int i = 0; i < Math.min(n, VhostUser.MAX_REGIONS); i++) {
                    int at = VhostUser.MEM_REGIONS + VhostUser.REGION_BYTES * i;
                    sb.append(i == 0 ? ": " : "; ").append("gpa 0x").append(Long.toHexString(m.u64(at + VhostUser.REGION_GPA)))
                            .append(" size 0x").append(Long.toHexString(m.u64(at + VhostUser.REGION_SIZE)))
                            .append(" uaddr 0x").append(Long.toHexString(m.u64(at + VhostUser.REGION_UADDR)))
                            .append(" offset 0x").append(Long.toHexString(m.u64(at + VhostUser.REGION_MMAP_OFFSET)));
                }
            }
            case VhostUser.GET_CONFIG, VhostUser.SET_CONFIG -> {
                if (size >= VhostUser.CONFIG_DATA) {
                    sb.append(" offset ").append(Integer.toUnsignedString(m.u32(VhostUser.CONFIG_OFFSET)))
                            .append(" size ").append(Integer.toUnsignedString(m.u32(VhostUser.CONFIG_SIZE)))
                            .append(" flags 0x").append(Integer.toHexString(m.u32(VhostUser.CONFIG_FLAGS)));
                } else if (m.isReply()) {
                    sb.append(" (empty: refused)");
                }
            }
            default -> {
                if (size > 0) {
                    sb.append(" (").append(Integer.toUnsignedString(size)).append("-byte payload)");
                }
            }
        }
    }
}
