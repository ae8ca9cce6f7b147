package org.mqblock.experiments.img;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.mqblock.block.driver.ImageAccess;
import org.mqblock.block.driver.ThinImage;
import org.mqblock.experiments.JsonOut;
import org.mqblock.nativeio.FileStat;

/**
 * What {@code info} says about one image, in qemu-img's words and order: {@code clusterSize} is 0
 * and the backing fields null where the format has none; {@code corrupt} is the thin header's flag.
 */
record ImageInfo(String filename, ImageFormat format, long virtualSize, long actualSize, int clusterSize,
        String backingFilename, String fullBackingFilename, ImageFormat backingFormat, boolean corrupt) {

    /** The image {@code path} of {@code format} and, with {@code chain}, every backing image below it. */
    static List<ImageInfo> of(Path path, ImageFormat format, boolean chain, boolean shared) throws IOException {
        List<ImageInfo> out = new ArrayList<>();
        Path p = path;
        ImageFormat fmt = format;
        while (p != null) {
            ImageInfo i = one(p, fmt, shared);
            out.add(i);
            if (!chain || i.fullBackingFilename() == null) {
                break;
            }
            p = Path.of(i.fullBackingFilename());
            fmt = i.backingFormat();
        }
        return out;
    }

    private static ImageInfo one(Path path, ImageFormat format, boolean shared) throws IOException {
        long allocated = FileStat.allocatedBytes(path);
        if (format == ImageFormat.RAW) {
            // The block layer addresses 512-byte sectors: a raw file's last partial one reads as padded with zeros.
            long size = (Files.size(path) + 511) & ~511L;
            return new ImageInfo(path.toString(), format, size, allocated, 0, null, null, null, false);
        }
        ThinImage.Info t = ThinImage.info(path, shared ? ImageAccess.READ_SHARED : ImageAccess.READ);
        Path backing = t.backingPath();
        ImageFormat backingFormat = backing == null ? null : Files.exists(backing) ? ImageFormat.probe(backing) : null;
        return new ImageInfo(path.toString(), format, t.virtualSize(), allocated, t.clusterSize(), t.backingFile(),
                backing == null ? null : combine(path, t.backingFile()), backingFormat, t.corrupt());
    }

    /**
     * The backing name joined to the image's name as given (QEMU's {@code path_combine}): {@code
     * b.raw} beside {@code top.thin} stays {@code b.raw}, beside {@code /d/top.thin} becomes
     * {@code /d/b.raw}; the same file {@link ThinImage#resolveBacking} opens.
     */
    static String combine(Path image, String backing) {
        Path dir = image.getParent();
        return Path.of(backing).isAbsolute() || dir == null ? backing : dir.resolve(backing).toString();
    }

    /** The human form: {@code image:}, {@code file format:}, {@code virtual size:} ... */
    String human() {
        StringBuilder b = new StringBuilder();
        b.append("image: ").append(filename).append('\n');
        b.append("file format: ").append(format.name).append('\n');
        b.append("virtual size: ").append(Sizes.humanWithBytes(virtualSize)).append('\n');
        b.append("disk size: ").append(Sizes.human(actualSize)).append('\n');
        if (clusterSize != 0) {
            b.append("cluster_size: ").append(clusterSize).append('\n');
        }
        if (backingFilename != null) {
            b.append("backing file: ").append(backingFilename);
            if (!backingFilename.equals(fullBackingFilename)) {
                b.append(" (actual path: ").append(fullBackingFilename).append(')');
            }
            b.append('\n');
            b.append("backing file format: ").append(backingFormat == null ? "(missing)" : backingFormat.name).append('\n');
        }
        if (format == ImageFormat.THIN) {
            b.append("Format specific information:\n    corrupt: ").append(corrupt).append('\n');
        }
        return b.toString();
    }

    /** The JSON object of {@code info --output=json}, with qemu-img's keys. */
    void json(JsonOut j) {
        j.beginObject();
        if (backingFormat != null) {
            j.field("backing-filename-format", backingFormat.name);
        }
        j.field("virtual-size", virtualSize);
        j.field("filename", filename);
        if (clusterSize != 0) {
            j.field("cluster-size", clusterSize);
        }
        j.field("format", format.name);
        j.field("actual-size", actualSize);
        if (format == ImageFormat.THIN) {
            j.name("format-specific").beginObject().field("type", "thin")
                    .name("data").beginObject().field("corrupt", corrupt).endObject().endObject();
        }
        if (backingFilename != null) {
            j.field("full-backing-filename", fullBackingFilename);
            j.field("backing-filename", backingFilename);
        }
        j.field("dirty-flag", false);
        j.endObject();
    }
}
