package org.mqblock.memory;

import java.util.ArrayList;
import java.util.List;

/**
 * The two kinds of guest RAM, for tests that prove one property of both: private memory the
 * region allocates, and shared memory over a file mapped twice ({@link SharedFile}). A factory
 * keeps the shared files it made and deletes them in {@link Factory#close}.
 */
enum RamKind {
    PRIVATE,
    SHARED;

    /** Makes regions of one kind; not thread-safe. */
    static final class Factory implements AutoCloseable {
        private final RamKind kind;
        private final List<SharedFile> files = new ArrayList<>();

        Factory(RamKind kind) {
            this.kind = kind;
        }

        RamRegion create(String name, long size, int chunkBits) {
            if (kind == PRIVATE) {
                return new RamRegion(name, size, chunkBits, false);
            }
            SharedFile f = new SharedFile(size);
            files.add(f);
            return f.region(name, chunkBits);
        }

        RamRegion create(String name, long size) {
            return create(name, size, kind == PRIVATE ? RamRegion.DEFAULT_CHUNK_BITS : RamRegion.SHARED_CHUNK_BITS);
        }

        /** The shared file behind the last shared region made. */
        SharedFile lastFile() {
            return files.get(files.size() - 1);
        }

        @Override
        public void close() throws java.io.IOException {
            for (SharedFile f : files) {
                f.close();
            }
            files.clear();
        }
    }
}
