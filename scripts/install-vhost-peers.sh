#!/usr/bin/env bash
# Installs what the vhost-user front-end's tests against QEMU and F10 (scripts/vhost-bench.sh) drive,
# from Debian, only when a tool is missing: qemu-storage-daemon (qemu-system-common, QEMU's
# vhost-user-blk export) and jq (the benchmark reads mqb's fio JSON with it). Idempotent: exits at
# once when both are there. Runs apt-get update at most once per call, non-interactively; as root,
# or through sudo -n. Exit status: 0 when every tool is present afterwards, 2 when it cannot
# install (not root, no apt-get), 3 when apt-get failed, 4 when a tool is still missing.
set -euo pipefail

declare -A pkg_of=([qemu-storage-daemon]=qemu-system-common [jq]=jq)
tools=(qemu-storage-daemon jq)
missing=()
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${pkg_of[$tool]}")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)

source "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"
MQB_APT_ENV=()
mqb_apt_install install-vhost-peers 600 "${pkgs[@]}"

for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "install-vhost-peers: $tool still missing after install" >&2; exit 4; }
done
