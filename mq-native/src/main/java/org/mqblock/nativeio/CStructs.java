package org.mqblock.nativeio;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;

/**
 * The C structs the bindings pass to the kernel, each laid out once for Linux x86_64 (LP64: {@code
 * long}, {@code size_t} and pointers are 8 bytes). Each nested class is a Descriptor: its offsets
 * are computed from one {@link StructLayout} in its static block and checked there against the
 * sizes the kernel headers give, so a wrong layout fails when the class loads, not in the kernel.
 * The loader checks the platform first ({@link Platform#requireSupported()}).
 */
final class CStructs {

    private CStructs() {}

    static {
        Platform.requireSupported();
    }

    static void check(boolean ok, String struct, String what, long got, long expected) {
        if (!ok) {
            throw new IllegalStateException(struct + ": " + what + " is " + got + ", the Linux x86_64 ABI says "
                    + expected);
        }
    }

    /** {@code struct timespec { time_t tv_sec; long tv_nsec; }} (epoll_pwait2's timeout). */
    static final class Timespec {
        static final StructLayout LAYOUT = MemoryLayout.structLayout(
                JAVA_LONG.withName("tv_sec"),
                JAVA_LONG.withName("tv_nsec"));
        static final long SIZE = LAYOUT.byteSize();
        static final long TV_SEC = LAYOUT.byteOffset(groupElement("tv_sec"));
        static final long TV_NSEC = LAYOUT.byteOffset(groupElement("tv_nsec"));

        static {
            check(SIZE == 16, "timespec", "size", SIZE, 16);
        }

        private Timespec() {}
    }

    /** {@code struct timeval { time_t tv_sec; suseconds_t tv_usec; }} (SO_RCVTIMEO, SO_SNDTIMEO). */
    static final class Timeval {
        static final StructLayout LAYOUT = MemoryLayout.structLayout(
                JAVA_LONG.withName("tv_sec"),
                JAVA_LONG.withName("tv_usec"));
        static final long SIZE = LAYOUT.byteSize();
        static final long TV_SEC = LAYOUT.byteOffset(groupElement("tv_sec"));
        static final long TV_USEC = LAYOUT.byteOffset(groupElement("tv_usec"));

        static {
            check(SIZE == 16, "timeval", "size", SIZE, 16);
        }

        private Timeval() {}
    }

    /** {@code struct pollfd { int fd; short events; short revents; }}. */
    static final class Pollfd {
        static final StructLayout LAYOUT = MemoryLayout.structLayout(
                JAVA_INT.withName("fd"),
                JAVA_SHORT.withName("events"),
                JAVA_SHORT.withName("revents"));
        static final long SIZE = LAYOUT.byteSize();
        static final long FD = LAYOUT.byteOffset(groupElement("fd"));
        static final long EVENTS = LAYOUT.byteOffset(groupElement("events"));
        static final long REVENTS = LAYOUT.byteOffset(groupElement("revents"));

        static {
            check(SIZE == 8, "pollfd", "size", SIZE, 8);
            check(REVENTS == 6, "pollfd", "offset of revents", REVENTS, 6);
        }

        private Pollfd() {}
    }

    /**
     * {@code struct epoll_event { uint32_t events; epoll_data_t data; } __attribute__((packed))}:
     * packed on x86_64 only (EPOLL_PACKED in the kernel's uapi header), so {@code data} sits at
     * offset 4, unaligned, and an array's stride is 12 bytes.
     */
    static final class EpollEvent {
        static final StructLayout LAYOUT = MemoryLayout.structLayout(
                JAVA_INT.withName("events"),
                JAVA_LONG_UNALIGNED.withName("data"));
        static final long SIZE = LAYOUT.byteSize();
        static final long EVENTS = LAYOUT.byteOffset(groupElement("events"));
        static final long DATA = LAYOUT.byteOffset(groupElement("data"));

        static {
            check(SIZE == 12, "epoll_event", "size", SIZE, 12);
            check(DATA == 4, "epoll_event", "offset of data", DATA, 4);
        }

        private EpollEvent() {}
    }

    /** {@code struct iovec { void *iov_base; size_t iov_len; }}. */
    static final class Iovec {
        static final StructLayout LAYOUT = MemoryLayout.structLayout(
                ADDRESS.withName("iov_base"),
                JAVA_LONG.withName("iov_len"));
        static final long SIZE = LAYOUT.byteSize();
        static final long BASE = LAYOUT.byteOffset(groupElement("iov_base"));
        static final long LEN = LAYOUT.byteOffset(groupElement("iov_len"));

        static {
            check(SIZE == 16, "iovec", "size", SIZE, 16);
        }

        private Iovec() {}
    }

    /**
     * {@code struct msghdr { void *msg_name; socklen_t msg_namelen; struct iovec *msg_iov; size_t
     * msg_iovlen; void *msg_control; size_t msg_controllen; int msg_flags; }}, with the padding the
     * compiler puts after the two 4-byte fields.
     */
    static final class Msghdr {
        static final StructLayout LAYOUT = MemoryLayout.structLayout(
                ADDRESS.withName("msg_name"),
                JAVA_INT.withName("msg_namelen"),
                MemoryLayout.paddingLayout(4),
                ADDRESS.withName("msg_iov"),
                JAVA_LONG.withName("msg_iovlen"),
                ADDRESS.withName("msg_control"),
                JAVA_LONG.withName("msg_controllen"),
                JAVA_INT.withName("msg_flags"),
                MemoryLayout.paddingLayout(4));
        static final long SIZE = LAYOUT.byteSize();
        static final long NAME = LAYOUT.byteOffset(groupElement("msg_name"));
        static final long NAMELEN = LAYOUT.byteOffset(groupElement("msg_namelen"));
        static final long IOV = LAYOUT.byteOffset(groupElement("msg_iov"));
        static final long IOVLEN = LAYOUT.byteOffset(groupElement("msg_iovlen"));
        static final long CONTROL = LAYOUT.byteOffset(groupElement("msg_control"));
        static final long CONTROLLEN = LAYOUT.byteOffset(groupElement("msg_controllen"));
        static final long FLAGS = LAYOUT.byteOffset(groupElement("msg_flags"));

        static {
            check(SIZE == 56, "msghdr", "size", SIZE, 56);
            check(IOV == 16, "msghdr", "offset of msg_iov", IOV, 16);
            check(FLAGS == 48, "msghdr", "offset of msg_flags", FLAGS, 48);
        }

        private Msghdr() {}
    }

    /**
     * {@code struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; unsigned char
     * cmsg_data[]; }} and the macros over it: {@code CMSG_ALIGN} rounds to {@code sizeof(size_t)},
     * {@code CMSG_LEN(n)} is the header plus {@code n} data bytes (what {@code cmsg_len} holds),
     * {@code CMSG_SPACE(n)} the same with the data padded (what a control buffer reserves).
     */
    static final class Cmsghdr {
        static final StructLayout LAYOUT = MemoryLayout.structLayout(
                JAVA_LONG.withName("cmsg_len"),
                JAVA_INT.withName("cmsg_level"),
                JAVA_INT.withName("cmsg_type"));
        static final long SIZE = LAYOUT.byteSize();
        static final long LEN = LAYOUT.byteOffset(groupElement("cmsg_len"));
        static final long LEVEL = LAYOUT.byteOffset(groupElement("cmsg_level"));
        static final long TYPE = LAYOUT.byteOffset(groupElement("cmsg_type"));
        /** Where {@code CMSG_DATA} points, from the header's start. */
        static final long DATA = align(SIZE);

        static {
            check(SIZE == 16, "cmsghdr", "size", SIZE, 16);
            check(DATA == 16, "cmsghdr", "offset of CMSG_DATA", DATA, 16);
        }

        private Cmsghdr() {}

        /** {@code CMSG_ALIGN(len)}. */
        static long align(long len) {
            return (len + 7) & ~7L;
        }

        /** {@code CMSG_LEN(dataLen)}. */
        static long len(long dataLen) {
            return align(SIZE) + dataLen;
        }

        /** {@code CMSG_SPACE(dataLen)}. */
        static long space(long dataLen) {
            return align(SIZE) + align(dataLen);
        }
    }

    /** {@code struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }}. */
    static final class SockaddrUn {
        static final int PATH_CAPACITY = 108;
        static final StructLayout LAYOUT = MemoryLayout.structLayout(
                JAVA_SHORT.withName("sun_family"),
                MemoryLayout.sequenceLayout(PATH_CAPACITY, java.lang.foreign.ValueLayout.JAVA_BYTE).withName("sun_path"));
        static final long SIZE = LAYOUT.byteSize();
        static final long FAMILY = LAYOUT.byteOffset(groupElement("sun_family"));
        static final long PATH = LAYOUT.byteOffset(groupElement("sun_path"));

        static {
            check(SIZE == 110, "sockaddr_un", "size", SIZE, 110);
            check(PATH == 2, "sockaddr_un", "offset of sun_path", PATH, 2);
        }

        private SockaddrUn() {}
    }
}
