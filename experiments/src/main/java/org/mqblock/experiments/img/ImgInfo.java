package org.mqblock.experiments.img;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.mqblock.experiments.JsonOut;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code mqb img info [-f fmt] [--output=human|json] [--backing-chain] filename}. */
@Command(name = "info", description = "Show an image's format, sizes and backing file.")
public final class ImgInfo extends ImgSubcommand {

    @Option(names = "-f", paramLabel = "fmt", description = "raw or thin (default: probe).")
    String format;

    @Option(names = "--output", paramLabel = "fmt", description = "human (default) or json.")
    OutputFormat output = OutputFormat.HUMAN;

    @Option(names = "--backing-chain", description = "Also show every backing image below it.")
    boolean chain;

    @Option(names = {"-U", "--force-share"}, description = "Take no locks: read an image another process may be writing.")
    boolean forceShare;

    @Parameters(index = "0", paramLabel = "filename")
    Path filename;

    @Override
    int execute() throws IOException {
        ImageFormat fmt = ImageFormat.of(filename, format);
        List<ImageInfo> infos = ImageInfo.of(filename, fmt, chain, forceShare);
        if (output == OutputFormat.JSON) {
            JsonOut j = new JsonOut();
            if (chain) {
                j.beginArray();
            }
            infos.forEach(i -> i.json(j));
            if (chain) {
                j.endArray();
            }
            out().print(j);
        } else {
            for (int i = 0; i < infos.size(); i++) {
                out().print((i > 0 ? "\n" : "") + infos.get(i).human());
            }
        }
        return 0;
    }
}
