package org.mqblock.experiments;

import org.mqblock.experiments.img.ImgCheck;
import org.mqblock.experiments.img.ImgCommit;
import org.mqblock.experiments.img.ImgConvert;
import org.mqblock.experiments.img.ImgCreate;
import org.mqblock.experiments.img.ImgInfo;
import org.mqblock.experiments.img.ImgMap;
import org.mqblock.experiments.img.ImgRebase;
import org.mqblock.experiments.img.ImgResize;
import org.mqblock.experiments.img.ImgSnapshot;
import picocli.CommandLine.Command;

/**
 * {@code mqb img}: qemu-img for the formats this project writes ({@code raw} and {@code thin}),
 * with qemu-img's subcommands, options and output, so a qemu-img user finds their way (README).
 */
@Command(name = "img", mixinStandardHelpOptions = true,
        description = "Create, inspect, check, convert and change raw and thin images, as qemu-img does.",
        subcommands = {ImgCreate.class, ImgInfo.class, ImgCheck.class, ImgMap.class, ImgConvert.class,
                ImgSnapshot.class, ImgRebase.class, ImgCommit.class, ImgResize.class})
final class ImgCommand implements Runnable {

    @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                "mqb img needs a subcommand: create, info, check, map, convert, snapshot, rebase, commit or resize");
    }
}
