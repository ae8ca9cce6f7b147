package org.mqblock.experiments.guest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * What a test guest boots: the uncompressed kernel and the base initramfs that
 * {@code scripts/guest/build-initramfs.sh} builds once per kernel version and script hash, in its
 * cache directory (see the script's header).
 *
 * @param dir the cache directory the script printed
 * @param vmlinux the kernel, an ELF QEMU boots through its PVH note
 * @param initramfs the base archive (busybox, fio, modules, /init); a run appends its test
 * @param info the script's {@code info.txt}: kernel, versions, modules, sizes
 */
public record GuestImage(Path dir, Path vmlinux, Path initramfs, String info) {

    /** How long installing the packages may take on a clean machine (apt), then the build. */
    static final Duration INSTALL_TIMEOUT = Duration.ofMinutes(20);
    static final Duration BUILD_TIMEOUT = Duration.ofMinutes(5);

    /**
     * Installs what is missing ({@code install-guest-peers.sh}, at once when nothing is), then
     * builds the image or finds it cached ({@code build-initramfs.sh}).
     *
     * <p>Context: any thread; concurrent callers build once (the script holds a lock).
     *
     * @param repoRoot the repository (the directory holding {@code scripts/guest})
     * @throws IOException naming the script and its output when one fails or runs too long
     */
    public static GuestImage prepare(Path repoRoot) throws IOException {
        installPeers(repoRoot);
        Path script = script(repoRoot, "build-initramfs.sh");
        Scripts.Result r = Scripts.run(List.of(script.toString()), BUILD_TIMEOUT);
        if (r.status() != 0) {
            throw new IOException(script + " failed with status " + r.status() + ":\n" + r.stderr());
        }
        List<String> lines = r.stdout().lines().filter(l -> !l.isBlank()).toList();
        if (lines.isEmpty()) {
            throw new IOException(script + " printed no directory:\n" + r.stderr());
        }
        Path dir = Path.of(lines.get(lines.size() - 1).trim());
        return open(dir);
    }

    /** Runs {@code install-guest-peers.sh}; throws with its output when it fails. */
    public static void installPeers(Path repoRoot) throws IOException {
        Path script = script(repoRoot, "install-guest-peers.sh");
        Scripts.Result r = Scripts.run(List.of(script.toString()), INSTALL_TIMEOUT);
        if (r.status() != 0) {
            throw new IOException(script + " failed with status " + r.status() + ":\n" + r.stderr() + r.stdout());
        }
    }

    /** An image built before, from its directory. */
    public static GuestImage open(Path dir) throws IOException {
        Path vmlinux = dir.resolve("vmlinux");
        Path initramfs = dir.resolve("initramfs.cpio");
        for (Path p : List.of(vmlinux, initramfs, dir.resolve("done"))) {
            if (!Files.isRegularFile(p)) {
                throw new IOException("guest image " + dir + " is incomplete: no " + p.getFileName());
            }
        }
        Path info = dir.resolve("info.txt");
        return new GuestImage(dir, vmlinux, initramfs, Files.isRegularFile(info) ? Files.readString(info) : "");
    }

    /** The guest kernel's version, from info.txt ("unknown" when it does not say). */
    public String kernelVersion() {
        return info.lines().filter(l -> l.startsWith("kernel: ")).map(l -> l.substring(8).split(" ")[0]).findFirst()
                .orElse("unknown");
    }

    private static Path script(Path repoRoot, String name) throws IOException {
        Path p = repoRoot.resolve("scripts").resolve("guest").resolve(name);
        if (!Files.isExecutable(p)) {
            throw new IOException("no executable " + p + ": the guest harness needs the repository's scripts/guest"
                    + " (run through ./mqb, or set MQB_HOME to the repository)");
        }
        return p;
    }
}
