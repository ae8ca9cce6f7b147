package org.mqblock.experiments.guest;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * A virtio-blk disk of the guest, as QEMU's command line gives it: either a vhost-user-blk
 * front-end on a backend's Unix socket (our export, qemu-storage-daemon), or QEMU's own in-process
 * virtio-blk device on a raw image (the baseline), with its virtqueues on one IOThread.
 */
public sealed interface GuestDisk {

    /** Virtqueues the device offers (the guest makes one blk-mq hardware queue of each, up to its CPUs). */
    int queues();

    /** QEMU arguments for this disk; {@code index} keeps ids apart when a guest has several. */
    List<String> qemuArgs(int index);

    /** One line for logs and result files. */
    String describe();

    /**
     * {@code -chardev socket -device vhost-user-blk-pci}: QEMU connects to a vhost-user-blk
     * backend already listening on {@code socket}. The guest RAM must be shared with the backend
     * ({@link GuestVm} makes it a memfd with share=on).
     */
    record VhostUser(Path socket, int queues) implements GuestDisk {
        public VhostUser {
            checkQueues(queues);
        }

        @Override
        public List<String> qemuArgs(int index) {
            return List.of("-chardev", "socket,id=vu" + index + ",path=" + socket,
                    "-device", "vhost-user-blk-pci,chardev=vu" + index + ",num-queues=" + queues);
        }

        @Override
        public String describe() {
            return "vhost-user-blk-pci on " + socket + ", " + queues + " queues";
        }
    }

    /** QEMU's file AIO for the in-process device: {@code aio=io_uring} or {@code aio=threads}. */
    enum Aio {
        IO_URING, THREADS;

        public String qemuName() {
            return name().toLowerCase(Locale.ROOT);
        }

        public static Aio parse(String s) {
            return switch (s.trim().toLowerCase(Locale.ROOT)) {
                case "io_uring", "io-uring" -> IO_URING;
                case "threads" -> THREADS;
                default -> throw new IllegalArgumentException("aio: '" + s + "' is neither io_uring nor threads");
            };
        }
    }

    /**
     * {@code -drive ... -device virtio-blk-pci,num-queues=N,iothread=...}: QEMU's in-process
     * virtio-blk on a raw image, every virtqueue on one IOThread (QEMU 7.2 has no
     * iothread-vq-mapping), {@code cache=none} (O_DIRECT) or {@code cache=writeback}.
     */
    record InProcess(Path image, int queues, Aio aio, boolean direct) implements GuestDisk {
        public InProcess {
            checkQueues(queues);
        }

        /** The QEMU IOThread object's id; its thread is named {@code "IO " + id} (debug-threads=on). */
        public String iothreadId(int index) {
            return "iot" + index;
        }

        @Override
        public List<String> qemuArgs(int index) {
            return List.of("-object", "iothread,id=" + iothreadId(index),
                    "-drive", "file=" + image + ",if=none,id=d" + index + ",format=raw,aio=" + aio.qemuName()
                            + ",cache=" + (direct ? "none" : "writeback"),
                    "-device", "virtio-blk-pci,drive=d" + index + ",num-queues=" + queues + ",iothread="
                            + iothreadId(index));
        }

        @Override
        public String describe() {
            return "virtio-blk-pci (QEMU in-process) on " + image + ", " + queues + " queues on one IOThread, aio="
                    + aio.qemuName() + ", cache=" + (direct ? "none" : "writeback");
        }
    }

    private static void checkQueues(int queues) {
        if (queues < 1 || queues > 64) {
            throw new IllegalArgumentException("a virtio-blk disk has 1..64 queues here, got " + queues);
        }
    }
}
