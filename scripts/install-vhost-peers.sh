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

if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "install-vhost-peers: missing ${pkgs[*]}, and not root with no passwordless sudo; install them by hand" >&2
  exit 2
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-vhost-peers: missing ${pkgs[*]} and no apt-get on this machine" >&2
  exit 2
fi

# Bounded: an unreachable mirror fails with a message rather than hanging.
apt_opts=(-o Acquire::Retries=1 -o Acquire::http::Timeout=20 -o Acquire::https::Timeout=20
          -o DPkg::Lock::Timeout=120)
export DEBIAN_FRONTEND=noninteractive
echo "install-vhost-peers: installing ${pkgs[*]}" >&2
timeout 300 "${as_root[@]}" apt-get "${apt_opts[@]}" update -qq \
  || { echo "install-vhost-peers: apt-get update failed (is a Debian mirror reachable?)" >&2; exit 3; }
timeout 600 "${as_root[@]}" apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${pkgs[@]}" \
  || { echo "install-vhost-peers: apt-get install ${pkgs[*]} failed" >&2; exit 3; }

for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "install-vhost-peers: $tool still missing after install" >&2; exit 4; }
done
