package org.mqblock.memory;

/**
 * The guest page: the unit of dirty tracking and of migration ({@code TARGET_PAGE_BITS} in QEMU's
 * exec/cpu-all.h). Fixed at 4 KiB, as on x86 and most arm64 guests.
 */
public final class TargetPage {

    /** log2 of the page size. */
    public static final int TARGET_PAGE_BITS = 12;
    /** 4096 bytes. */
    public static final int TARGET_PAGE_SIZE = 1 << TARGET_PAGE_BITS;
    /** Clears the offset-in-page bits of an address ({@code TARGET_PAGE_MASK}). */
    public static final long TARGET_PAGE_MASK = -(long) TARGET_PAGE_SIZE;

    private TargetPage() {}

    /** The page that holds byte {@code offset}. */
    public static long pageOf(long offset) {
        return offset >>> TARGET_PAGE_BITS;
    }

    /** How many pages the bytes {@code [offset, offset + len)} touch ({@code len > 0}). */
    public static long pagesSpanned(long offset, long len) {
        return pageOf(offset + len - 1) - pageOf(offset) + 1;
    }

    public static boolean isAligned(long value) {
        return (value & (TARGET_PAGE_SIZE - 1)) == 0;
    }
}
