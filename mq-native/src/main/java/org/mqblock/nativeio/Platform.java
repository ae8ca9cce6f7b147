package org.mqblock.nativeio;

import java.util.Locale;

/**
 * The one platform these bindings are written for: Linux on x86_64. The struct layouts ({@link
 * CStructs}), the constants and the errno numbers are that ABI's; on anything else the bindings
 * refuse to load rather than pass wrongly laid out memory to the kernel.
 */
public final class Platform {

    /** What {@link #requireSupported()} accepts, as its message says it. */
    public static final String SUPPORTED = "Linux on x86_64 (os.name Linux, os.arch amd64 or x86_64)";

    private Platform() {}

    /** Whether this JVM runs on the supported platform. Context: any thread. */
    public static boolean isSupported() {
        return problem(System.getProperty("os.name"), System.getProperty("os.arch")) == null;
    }

    /**
     * Throws unless this JVM runs on the supported platform; the bindings call it when they load.
     * Context: any thread.
     *
     * @throws UnsupportedOperationException naming the platform found and the one supported
     */
    public static void requireSupported() {
        requireSupported(System.getProperty("os.name"), System.getProperty("os.arch"));
    }

    /**
     * The check itself, over given property values (so a test can show its message). Context:
     * any thread.
     *
     * @throws UnsupportedOperationException naming {@code osName}/{@code osArch} and the platform
     *         supported
     */
    public static void requireSupported(String osName, String osArch) {
        String problem = problem(osName, osArch);
        if (problem != null) {
            throw new UnsupportedOperationException(problem);
        }
    }

    private static String problem(String osName, String osArch) {
        boolean linux = osName != null && osName.toLowerCase(Locale.ROOT).equals("linux");
        String arch = osArch == null ? "" : osArch.toLowerCase(Locale.ROOT);
        boolean x86_64 = arch.equals("amd64") || arch.equals("x86_64");
        if (linux && x86_64) {
            return null;
        }
        return "mq-native supports " + SUPPORTED + " only; this JVM runs on os.name " + osName
                + ", os.arch " + osArch + " (its struct layouts and constants are the Linux x86_64"
                + " ABI's; use the Selector monitor of mq-core, FdMonitor.SELECTOR, elsewhere)";
    }
}
