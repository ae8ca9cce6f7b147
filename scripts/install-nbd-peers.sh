#!/usr/bin/env bash
# Installs the real NBD peers the nbd-export tests and the benchmark drive, from Debian, only
# when a tool is missing: libnbd-bin (nbdinfo, nbdcopy), qemu-utils (qemu-img, qemu-io,
# qemu-nbd), python3-libnbd (nbdsh), fio (with its nbd engine), nbdkit and jq (the benchmark reads fio's JSON with it). Idempotent: exits at once when all are there.
# Runs apt-get update at most once per call, non-interactively; as root, or through sudo -n.
# Exit status: 0 when every tool is present afterwards, non-zero (with a message) otherwise.
set -euo pipefail

declare -A pkg_of=([nbdinfo]=libnbd-bin [qemu-img]=qemu-utils [qemu-io]=qemu-utils
                   [qemu-nbd]=qemu-utils [nbdsh]=python3-libnbd [fio]=fio [nbdkit]=nbdkit [jq]=jq)
missing=()
for tool in nbdinfo qemu-img qemu-io qemu-nbd nbdsh fio nbdkit jq; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${pkg_of[$tool]}")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)

source "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"
MQB_APT_ENV=()
mqb_apt_install install-nbd-peers 600 "${pkgs[@]}"

for tool in nbdinfo qemu-img qemu-io qemu-nbd nbdsh fio nbdkit jq; do
  command -v "$tool" >/dev/null 2>&1 || { echo "install-nbd-peers: $tool still missing after install" >&2; exit 4; }
done
