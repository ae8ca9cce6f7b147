package org.mqblock.memory;

/** How addresses appear in messages: {@code 0x1ffc}, ranges as {@code [0x0, 0x2000)}. */
final class Hex {

    private Hex() {}

    static String of(long value) {
        return "0x" + Long.toHexString(value);
    }

    static String range(long start, long end) {
        return "[" + of(start) + ", " + of(end) + ")";
    }

    /** {@code 0x1ffc+8}: an access of {@code size} bytes at {@code addr}. */
    static String access(long addr, long size) {
        return of(addr) + "+" + size;
    }
}
