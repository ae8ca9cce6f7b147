package org.mqblock.experiments.guest;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** Runs a helper command to completion with a deadline; never leaves it running. */
final class Scripts {

    record Result(int status, String stdout, String stderr) {}

    private Scripts() {}

    /**
     * Runs {@code command} with stdin from /dev/null; kills it (and its children) at the deadline.
     *
     * <p>Context: any thread.
     *
     * @throws IOException when it cannot start or runs past {@code timeout} (with what it printed)
     */
    static Result run(List<String> command, Duration timeout) throws IOException {
        Process p = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .start();
        CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> drain(p.getInputStream()));
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> drain(p.getErrorStream()));
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                kill(p);
                throw new IOException(String.join(" ", command) + " ran past " + timeout.toSeconds() + " s:\n"
                        + err.completeOnTimeout("", 2, TimeUnit.SECONDS).join()
                        + out.completeOnTimeout("", 2, TimeUnit.SECONDS).join());
            }
            return new Result(p.exitValue(), out.get(10, TimeUnit.SECONDS), err.get(10, TimeUnit.SECONDS));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while running " + String.join(" ", command), e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IOException("could not read the output of " + String.join(" ", command), e);
        } finally {
            kill(p);
        }
    }

    /** Kills a process and whatever it started, at once. */
    static void kill(Process p) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
    }

    private static String drain(InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
