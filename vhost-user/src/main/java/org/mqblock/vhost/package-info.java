/**
 * vhost-user for block devices (QEMU's docs/interop/vhost-user.rst): the protocol's numbers
 * ({@link org.mqblock.vhost.VhostUser}), its messages ({@link org.mqblock.vhost.VhostUserMessage})
 * and their transport with fds ({@link org.mqblock.vhost.VhostUserChannel}), which both sides
 * share: the vhost-user-blk backend that serves the multiqueue virtio-blk device to QEMU or any
 * front-end in another process, and the front-end that drives any vhost-user-blk backend from
 * this one (libblkio's role).
 */
package org.mqblock.vhost;
