package org.mqblock.nativeio;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.file.Path;

/**
 * {@code stat(2)}'s allocation count, which Java's file attributes leave out: the bytes a file
 * really occupies ({@code st_blocks * 512}), what {@code qemu-img info} calls "disk size".
 * Self-contained (its own downcall) so that it stays apart from the bindings in {@link Libc}.
 */
public final class FileStat {

    static {
        Platform.requireSupported();
    }

    /** {@code struct stat} on x86_64 Linux is 144 bytes; {@code st_blocks} is the long at 64. */
    private static final long STAT_SIZE = 144;
    private static final long ST_BLOCKS_OFFSET = 64;

    private static final StructLayout CAPTURE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE_LAYOUT.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle STAT = link();

    private FileStat() {}

    @SuppressWarnings("restricted")
    private static MethodHandle link() {
        Linker linker = Linker.nativeLinker();
        MemorySegment symbol = linker.defaultLookup().find("stat")
                .orElseThrow(() -> new UnsatisfiedLinkError("libc has no stat"));
        return linker.downcallHandle(symbol, FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS),
                Linker.Option.captureCallState("errno"));
    }

    /**
     * The bytes allocated to {@code path} on its file system. Context: any thread.
     *
     * @throws NativeException naming the file and the errno if it cannot be stat'ed
     */
    public static long allocatedBytes(Path path) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CAPTURE_LAYOUT);
            MemorySegment buf = arena.allocate(STAT_SIZE, 8);
            int rc = (int) STAT.invokeExact(state, arena.allocateFrom(path.toString()), buf);
            if (rc != 0) {
                throw new NativeException("stat", path.toString(), (int) ERRNO.get(state, 0L));
            }
            return buf.get(JAVA_LONG, ST_BLOCKS_OFFSET) * 512;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("stat threw a checked exception", t);
        }
    }
}
