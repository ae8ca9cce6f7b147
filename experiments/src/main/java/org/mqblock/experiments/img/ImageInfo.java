package org.mqblock.experiments.img;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.mqblock.block.driver.BlockDriver;
import org.mqblock.block.driver.ThinDriver;
import org.mqblock.experiments.JsonOut;
import org.mqblock.nativeio.FileStat;

/**
 * What {@code info} says about one image, in qemu-img's words and order: {@code clusterSize} is 0
 * and the backing fields null where the format has none.
 */
record ImageInfo(String filename, ImageFormat format, long virtualSize, long actualSize, int clusterSize,
        String backingFilename, String fullBackingFilename, ImageFormat backingFormat) {

    /** The image named {@code filename} (opened as {@code image}) and, with {@code chain}, its backing images below it. */
    static List<ImageInfo> of(String filename, ImageFormat format, BlockDriver image, boolean chain) throws IOException {
        List<ImageInfo> out = new ArrayList<>();
        String name = filename;
        ImageFormat fmt = format;
        for (BlockDriver d = image; d != null; d = chain ? backingOf(d) : null) {
            BlockDriver b = backingOf(d);
            String full = b == null ? null : b.filename();
            out.add(new ImageInfo(name, fmt, d.length(), FileStat.allocatedBytes(Path.of(d.filename())),
                    d instanceof ThinDriver t ? t.clusterSize() : 0, full, full,
                    b == null ? null : b instanceof ThinDriver ? ImageFormat.THIN : ImageFormat.RAW));
            name = full;
            fmt = b == null ? null : out.get(out.size() - 1).backingFormat();
        }
        return out;
    }

    private static BlockDriver backingOf(BlockDriver d) {
        return d instanceof ThinDriver t ? t.backing() : null;
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
            b.append("backing file format: ").append(backingFormat.name).append('\n');
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
        if (backingFilename != null) {
            j.field("full-backing-filename", fullBackingFilename);
            j.field("backing-filename", backingFilename);
        }
        j.field("dirty-flag", false);
        j.endObject();
    }
}
