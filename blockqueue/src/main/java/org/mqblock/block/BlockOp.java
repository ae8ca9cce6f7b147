package org.mqblock.block;

/** What a {@link BlockRequest} asks of the device. */
public enum BlockOp {
    READ,
    WRITE,
    FLUSH,
    DISCARD,
    WRITE_ZEROES
}
