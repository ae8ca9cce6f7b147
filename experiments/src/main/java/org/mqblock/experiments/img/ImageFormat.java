package org.mqblock.experiments.img;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.block.driver.FileDriver;
import org.mqblock.block.driver.ImageAccess;
import org.mqblock.block.driver.ThinImage;

/** The image formats {@code mqb img} reads and writes ({@code -f}, {@code -O}, {@code -F}). */
enum ImageFormat {
    RAW("raw"),
    THIN("thin");

    final String name;

    ImageFormat(String name) {
        this.name = name;
    }

    /** The format named {@code s} ({@code raw}, {@code thin}). */
    static ImageFormat named(String s) {
        for (ImageFormat f : values()) {
            if (f.name.equals(s)) {
                return f;
            }
        }
        throw new IllegalArgumentException("Unknown file format '" + s + "' (this tool knows raw and thin)");
    }

    /** What the file holds, by its magic (qemu-img's probing); anything that is not thin is raw. */
    static ImageFormat probe(Path path) throws IOException {
        return ThinImage.isThin(path) ? THIN : RAW;
    }

    /**
     * The format given with {@code -f}, else the probed one; a thin image opened as {@code -f thin}
     * must have the magic (a raw image may hold anything, so {@code -f raw} is always accepted).
     */
    static ImageFormat of(Path path, String given) throws IOException {
        if (!Files.exists(path)) {
            throw new IOException("Could not open '" + path + "': No such file or directory");
        }
        ImageFormat probed = probe(path);
        if (given == null) {
            return probed;
        }
        ImageFormat f = named(given);
        if (f == THIN && probed != THIN) {
            throw new IOException("Could not open '" + path + "': Image is not in thin format");
        }
        return f;
    }

    /** Opens the image for writing (a thin image with its backing chain, read-only, below it). */
    BlockDriver openForWriting(Path path) throws IOException {
        return switch (this) {
            case RAW -> FileDriver.open(path, false);
            case THIN -> ThinImage.open(path, ImageAccess.WRITE);
        };
    }

    /**
     * Opens the image for reading: {@code shared} takes no locks (qemu-img's {@code -U}), else a
     * writer elsewhere makes this fail naming the image. A raw file is opened with the file driver,
     * whose {@link BlockDriver#blockStatus} knows its holes, unless the file is read-only.
     */
    BlockDriver openForReading(Path path, boolean shared) throws IOException {
        ImageAccess access = shared ? ImageAccess.READ_SHARED : ImageAccess.READ;
        return switch (this) {
            case RAW -> Files.isWritable(path) ? FileDriver.open(path, false) : ThinImage.openImage(path, access);
            case THIN -> ThinImage.open(path, access);
        };
    }
}
