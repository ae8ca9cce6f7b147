package org.mqblock.block.driver;

import java.io.IOException;
import java.nio.file.Path;
import org.mqblock.nativeio.FileLocks;
import org.mqblock.nativeio.NativeException;

/**
 * The locks an open image holds on its file, as QEMU's file-posix takes them ({@code
 * raw_apply_lock_bytes}, {@code raw_check_lock_bytes}), on the same bytes so that QEMU's tools and
 * ours see each other: byte {@code 100 + p} says "I use permission p", byte {@code 200 + p} says
 * "I do not share permission p", each a shared OFD lock ({@link FileLocks}). A writer uses
 * consistent-read, write and resize and shares neither write nor resize; a reader (a backing image,
 * {@code info}, {@code check}) uses consistent-read and shares neither either, so it refuses a
 * writer and a writer refuses it, while readers coexist. {@link ImageAccess#READ_SHARED} takes no locks
 * (qemu-img's {@code -U}).
 *
 * <p>A lock is applied before it is checked, so of two openers racing for one image at least one
 * sees the other. Context: the thread opening or closing the image.
 */
final class ImageLock implements AutoCloseable {

    private static final int PERM_BASE = 100;
    private static final int SHARED_BASE = 200;
    private static final int CONSISTENT_READ = 0;
    private static final int WRITE = 1;
    private static final int RESIZE = 3;
    private static final String[] PERM_NAMES = {"consistent read", "write", "write unchanged", "resize"};

    private static final ImageLock NONE = new ImageLock(null);

    private final FileLocks locks;

    private ImageLock(FileLocks locks) {
        this.locks = locks;
    }

    /**
     * Takes the locks for {@code access} on {@code path}.
     *
     * @throws IOException naming the image and the permission if another open holds a conflicting one
     */
    static ImageLock acquire(Path path, ImageAccess access) throws IOException {
        if (access == ImageAccess.READ_SHARED) {
            return NONE;
        }
        int[] used = access == ImageAccess.WRITE ? new int[] {CONSISTENT_READ, WRITE, RESIZE} : new int[] {CONSISTENT_READ};
        int[] unshared = {WRITE, RESIZE};
        FileLocks l;
        try {
            l = FileLocks.open(path);
        } catch (NativeException e) {
            throw new IOException("cannot lock image '" + path + "': " + e.getMessage(), e);
        }
        try {
            for (int p : used) {
                lock(l, path, PERM_BASE + p);
            }
            for (int p : unshared) {
                lock(l, path, SHARED_BASE + p);
            }
            for (int p : used) {
                if (l.heldByOthers(SHARED_BASE + p)) {
                    throw new IOException("image '" + path + "' is in use: failed to get \"" + PERM_NAMES[p]
                            + "\" lock (another process or node has it open and does not share " + PERM_NAMES[p] + ")");
                }
            }
            for (int p : unshared) {
                if (l.heldByOthers(PERM_BASE + p)) {
                    throw new IOException("image '" + path + "' is in use: failed to get shared \"" + PERM_NAMES[p]
                            + "\" lock (another process or node has it open for " + PERM_NAMES[p] + ")");
                }
            }
            return new ImageLock(l);
        } catch (IOException | RuntimeException e) {
            l.close();
            throw e;
        }
    }

    private static void lock(FileLocks l, Path path, int offset) throws IOException {
        if (!l.lockShared(offset)) {
            throw new IOException("image '" + path + "' is in use: byte " + offset + " is locked exclusively");
        }
    }

    /** Drops the locks. Idempotent. */
    @Override
    public void close() {
        if (locks != null) {
            locks.close();
        }
    }
}
