/**
 * Linux system calls through the FFM API ({@code java.lang.foreign}, JDK 25; no JNI, no JNA):
 * {@link org.mqblock.nativeio.EventFd}, {@link org.mqblock.nativeio.MemFd} with {@link
 * org.mqblock.nativeio.Mapping}, {@link org.mqblock.nativeio.Epoll}, {@link
 * org.mqblock.nativeio.UnixSocket} with SCM_RIGHTS, {@link org.mqblock.nativeio.Prctl}, and the
 * epoll {@link org.mqblock.core.loop.FdMonitor}, {@link org.mqblock.nativeio.EpollMonitor}
 * (QEMU's util/fdmon-epoll.c).
 *
 * <p>Rules stated once:
 * <ul>
 *   <li>Linux on x86_64 only. Every C struct is laid out once, in {@link
 *       org.mqblock.nativeio.CStructs}, for that ABI; {@link org.mqblock.nativeio.Platform} refuses
 *       other platforms when the bindings load, naming what it found.
 *   <li>A failed call throws {@link org.mqblock.nativeio.NativeException} (unchecked), whose
 *       message names the call, the fd and the errno ({@code epoll_ctl(ADD, fd 17): EBADF (9): Bad
 *       file descriptor}). Where a non-blocking fd has nothing to give, the call returns a sentinel
 *       instead ({@code -1}, {@code null}), as the Javadoc of each says. EINTR is retried.
 *   <li>errno is captured by the downcall itself ({@code Linker.Option.captureCallState}) into a
 *       per-thread segment, so the hot paths (eventfd read and write, epoll wait) allocate nothing
 *       per call.
 *   <li>An object wrapping an fd owns it: {@code close()} closes it, once (idempotent). Closing while
 *       another thread still uses the object is the caller's bug, as it is in C: the fd number can
 *       be reused at once.
 *   <li>The JVM needs {@code --enable-native-access=ALL-UNNAMED} (or the module's name) to call
 *       these without a warning.
 * </ul>
 */
package org.mqblock.nativeio;
