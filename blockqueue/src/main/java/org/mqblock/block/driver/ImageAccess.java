package org.mqblock.block.driver;

/** How an image is opened, and so which locks it takes on its file (see {@link ImageLock}). */
public enum ImageAccess {
    /** Read and write; refuses any other writer and any reader that takes locks. */
    WRITE,
    /** Read only, refusing writers (what a backing image needs: nobody changes it underneath). */
    READ,
    /** Read only, taking no locks (qemu-img's {@code -U}): may see an image another process is changing. */
    READ_SHARED;

    /** Whether this access writes. Context: any thread. */
    public boolean writable() {
        return this == WRITE;
    }
}
