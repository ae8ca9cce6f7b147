package org.mqblock.block.driver;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.mqblock.block.BlockDriverState;
import org.mqblock.block.BlockQueue;
import org.mqblock.block.BlockStatus;
import org.mqblock.block.TestIo;
import org.mqblock.core.loop.IOThread;

/**
 * The child JVM of {@link SigkillTest}: writes the op sequence {@link #op} gives for its seed to
 * a thin image, forever, and prints {@code F <op>} each time a flush has completed, until killed.
 */
public final class CrashChild {

    static final int SECTOR = PowerLossTest.SECTOR;
    static final int SECTORS = PowerLossTest.SECTORS;

    /** One op: a write of {@code n} sectors from {@code first} (value {@code gen}), a discard, or a flush. */
    record Op(char kind, int first, int n, long gen) {}

    /** The {@code i}-th op of round {@code round}'s sequence ({@code rnd} seeded with the round). */
    static Op op(Random rnd, int round, int i, int clusterSize) {
        int k = rnd.nextInt(100);
        long gen = round * 1_000_000L + i + 1;
        if (k < 80) {
            int n = 1 + rnd.nextInt(256);
            return new Op('W', rnd.nextInt(SECTORS - n), n, gen);
        }
        if (k < 85) {
            int perCluster = clusterSize / SECTOR;
            return new Op('D', rnd.nextInt(SECTORS / perCluster) * perCluster, perCluster, PowerLossTest.ZERO);
        }
        return new Op('F', 0, 0, 0);
    }

    public static void main(String[] args) throws Exception {
        Path image = Path.of(args[0]);
        int round = Integer.parseInt(args[1]);
        int clusterSize = Integer.parseInt(args[2]);
        IOThread io = IOThread.start("crash-child", IOThread.UNPINNED);
        BlockDriverState bs = BlockDriverState.create("child", ThinImage.open(image, ImageAccess.WRITE), List.of(io.context()));
        BlockQueue q = bs.queue(0);
        Random rnd = new Random(round);
        for (int i = 0; ; i++) {
            Op op = op(rnd, round, i, clusterSize);
            int status = switch (op.kind()) {
                case 'W' -> {
                    ByteBuffer data = ByteBuffer.allocateDirect(op.n() * SECTOR);
                    for (int j = 0; j < op.n(); j++) {
                        PowerLossTest.encode(data, j * SECTOR, op.first() + j, op.gen());
                    }
                    yield TestIo.write(q, (long) op.first() * SECTOR, data);
                }
                case 'D' -> TestIo.discard(q, (long) op.first() * SECTOR, (long) op.n() * SECTOR);
                default -> TestIo.flush(q);
            };
            if (status != BlockStatus.OK) {
                System.out.println("E " + i + " " + BlockStatus.name(status));
                System.exit(2);
            }
            if (op.kind() == 'F') {
                System.out.println("F " + i);
                System.out.flush();
            }
        }
    }
}
