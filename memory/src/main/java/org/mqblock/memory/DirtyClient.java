package org.mqblock.memory;

/**
 * Who consumes dirty-page information ({@code DIRTY_MEMORY_*} in QEMU's exec/ram_addr.h). Each
 * {@link RamRegion} keeps one {@link DirtyBitmap} per client, written only while that client's
 * log is started ({@link RamRegion#startDirtyLog}).
 */
public enum DirtyClient {
    /** Live migration's pre-copy ({@code DIRTY_MEMORY_MIGRATION}). */
    MIGRATION,
    /** A display that redraws only the framebuffer pages that changed ({@code DIRTY_MEMORY_VGA}). */
    DISPLAY;

    /** This client's bit in a region's active-clients mask. */
    int bit() {
        return 1 << ordinal();
    }

    private static final DirtyClient[] VALUES = values();

    static DirtyClient of(int ordinal) {
        return VALUES[ordinal];
    }

    static int count() {
        return VALUES.length;
    }
}
