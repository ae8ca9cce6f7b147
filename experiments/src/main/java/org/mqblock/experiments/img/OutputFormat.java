package org.mqblock.experiments.img;

/** {@code --output=human|json}, as qemu-img spells them (the command line ignores case). */
enum OutputFormat {
    HUMAN,
    JSON
}
