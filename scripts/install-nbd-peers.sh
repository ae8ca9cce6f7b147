#!/usr/bin/env bash
# Installs the real NBD peers the nbd-export tests and the benchmark drive, from Debian, only
# when a tool is missing: libnbd-bin (nbdinfo, nbdcopy), qemu-utils (qemu-img, qemu-io,
# qemu-nbd), fio (with its nbd engine), nbdkit and jq (the benchmark reads fio's JSON with it). Idempotent: exits at once when all are there.
# Runs apt-get update at most once per call, non-interactively; as root, or through sudo -n.
# Exit status: 0 when every tool is present afterwards, non-zero (with a message) otherwise.
set -euo pipefail

declare -A pkg_of=([nbdinfo]=libnbd-bin [qemu-img]=qemu-utils [qemu-io]=qemu-utils
                   [qemu-nbd]=qemu-utils [fio]=fio [nbdkit]=nbdkit [jq]=jq)
missing=()
for tool in nbdinfo qemu-img qemu-io qemu-nbd fio nbdkit jq; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${pkg_of[$tool]}")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)

if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "install-nbd-peers: missing ${pkgs[*]}, and not root with no passwordless sudo; install them by hand" >&2
  exit 2
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-nbd-peers: missing ${pkgs[*]} and no apt-get on this machine" >&2
  exit 2
fi

# Bounded: an unreachable mirror fails the tests with a message rather than hanging them.
apt_opts=(-o Acquire::Retries=1 -o Acquire::http::Timeout=20 -o Acquire::https::Timeout=20
          -o DPkg::Lock::Timeout=120)
export DEBIAN_FRONTEND=noninteractive
echo "install-nbd-peers: installing ${pkgs[*]}" >&2
timeout 300 "${as_root[@]}" apt-get "${apt_opts[@]}" update -qq \
  || { echo "install-nbd-peers: apt-get update failed (is a Debian mirror reachable?)" >&2; exit 3; }
timeout 600 "${as_root[@]}" apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${pkgs[@]}" \
  || { echo "install-nbd-peers: apt-get install ${pkgs[*]} failed" >&2; exit 3; }

for tool in nbdinfo qemu-img qemu-io qemu-nbd fio nbdkit jq; do
  command -v "$tool" >/dev/null 2>&1 || { echo "install-nbd-peers: $tool still missing after install" >&2; exit 4; }
done
