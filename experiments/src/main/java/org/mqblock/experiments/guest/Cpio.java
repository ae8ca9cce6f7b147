package org.mqblock.experiments.guest;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * Writes a cpio archive in the "newc" format the kernel unpacks as an initramfs
 * (Documentation/driver-api/early-userspace/buffer-format.rst): the host appends one with the
 * test script to the cached base archive, and the kernel unpacks both, in order.
 *
 * <p>Layout of one entry, all numbers 8 ASCII hex digits:
 * <pre>
 *   offset  0  c_magic     "070701"  (6 bytes)
 *           6  c_ino       14 c_mode   22 c_uid    30 c_gid     38 c_nlink   46 c_mtime
 *          54  c_filesize  62 c_devmajor 70 c_devminor 78 c_rdevmajor 86 c_rdevminor
 *          94  c_namesize (with its NUL)   102 c_check (0)
 *         110  name, NUL, padded with NULs to a multiple of 4 from the entry's start
 *              data, padded to a multiple of 4
 * </pre>
 * and the archive ends with an entry named {@code TRAILER!!!}.
 *
 * <p>Not threadsafe.
 */
final class Cpio {

    static final String MAGIC = "070701";
    static final int HEADER_LENGTH = 110;
    static final String TRAILER = "TRAILER!!!";
    static final int S_IFREG = 0100000;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private int nextInode = 1;
    private boolean finished;

    /** Adds a regular file owned by root; {@code name} is relative ({@code test.sh}). */
    Cpio file(String name, int permissions, byte[] data) {
        if (finished) {
            throw new IllegalStateException("archive already finished");
        }
        if (name.startsWith("/") || name.isEmpty()) {
            throw new IllegalArgumentException("cpio names are relative, got '" + name + "'");
        }
        entry(name, S_IFREG | (permissions & 07777), 1, data);
        return this;
    }

    /** The archive, trailer included. */
    byte[] finish() {
        if (!finished) {
            entry(TRAILER, 0, 1, new byte[0]);
            finished = true;
        }
        return out.toByteArray();
    }

    private void entry(String name, int mode, int nlink, byte[] data) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        StringBuilder h = new StringBuilder(HEADER_LENGTH).append(MAGIC);
        long[] fields = {name.equals(TRAILER) ? 0 : nextInode++, mode, 0, 0, nlink, 0, data.length, 0, 0, 0, 0,
                n.length + 1L, 0};
        for (long f : fields) {
            h.append(String.format(Locale.ROOT, "%08x", f));
        }
        out.writeBytes(h.toString().getBytes(StandardCharsets.US_ASCII));
        out.writeBytes(n);
        out.write(0);
        pad(HEADER_LENGTH + n.length + 1);
        out.writeBytes(data);
        pad(data.length);
    }

    private void pad(int length) {
        for (int i = length; i % 4 != 0; i++) {
            out.write(0);
        }
    }
}
