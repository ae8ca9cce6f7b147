#!/usr/bin/env bash
# Installs what the real-Linux-guest harness needs, from Debian, only when something is missing:
#   qemu-system-x86_64           (qemu-system-x86)     runs the guest under TCG
#   qemu-storage-daemon          (qemu-system-common)  the control vhost-user-blk export
#   a kernel with its modules    (linux-image-amd64)   /boot/vmlinuz-V and /lib/modules/V/modules.dep
#   a static /bin/busybox        (busybox-static)      the guest's shell and tools
#   fio, cpio, xz                (fio, cpio, xz-utils) the guest's workload; packing the initramfs;
#                                                     unpacking the kernel (Debian's is xz)
# (util-linux's blkdiscard, which the guest gets too, is always there: util-linux is essential.)
# Idempotent: exits at once when everything is present. Runs apt-get update at most once per call,
# non-interactively; as root, or through sudo -n.
# Exit status: 0 when everything is present afterwards, non-zero (with a message) otherwise.
set -euo pipefail

declare -A pkg_of=([qemu-system-x86_64]=qemu-system-x86 [qemu-storage-daemon]=qemu-system-common
                   [fio]=fio [cpio]=cpio [xz]=xz-utils)
tools=(qemu-system-x86_64 qemu-storage-daemon fio cpio xz)

have_kernel() {
  local k
  for k in /boot/vmlinuz-*; do
    [[ -r "$k" && -f "/lib/modules/${k#/boot/vmlinuz-}/modules.dep" ]] && return 0
  done
  return 1
}
# busybox-static's /bin/busybox; a dynamic busybox (package busybox) would work too, but Debian
# lets only one of the two be installed, and the static one is what the guest is tested with.
have_static_busybox() {
  [[ -x /bin/busybox ]] && ! ldd /bin/busybox >/dev/null 2>&1
}

check() {
  missing=()
  for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("${pkg_of[$tool]}")
  done
  have_kernel || missing+=(linux-image-amd64)
  have_static_busybox || missing+=(busybox-static)
}
check
[[ ${#missing[@]} -eq 0 ]] && exit 0
mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)

source "$(dirname "${BASH_SOURCE[0]}")/../apt-install.sh"
# The kernel package's initramfs hook is of no use here (the harness builds its own): skip it.
MQB_APT_ENV=(INITRD=No)
mqb_apt_install install-guest-peers 900 "${pkgs[@]}"

check
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "install-guest-peers: still missing after install: ${missing[*]}" >&2
  exit 4
fi
