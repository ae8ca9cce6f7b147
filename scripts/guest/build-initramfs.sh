#!/usr/bin/env bash
# build-initramfs.sh [--kernel VERSION] [--cache DIR] [--rebuild]
#
# Builds (once) what a test guest boots, and prints the directory holding it on stdout:
#   vmlinux         the host's Debian kernel, uncompressed from /boot/vmlinuz-VERSION by
#                   extract-vmlinux.sh (TCG then skips ~3 s of decompression)
#   initramfs.cpio  uncompressed newc: Debian's static busybox (/bin, every applet linked), the
#                   host's fio and util-linux blkdiscard (busybox's cannot zero) with the shared
#                   libraries ldd finds for them, the kernel's virtio-pci and virtio_blk modules
#                   with their dependencies (decompressed when the kernel ships .ko.xz/.zst/.gz),
#                   /lib/modules/load.order (dependency order, from modules.dep), /init, /lib/mqb.sh
#                   and the baked-in tests under /tests
#   info.txt        what went in (versions, modules, sizes)
# The host appends a second cpio with /test.sh per run (see /init); the kernel unpacks both.
#
# Cached under DIR/VERSION-HASH (DIR: $MQB_GUEST_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/mqblock/guest),
# HASH over these scripts, the fio and busybox versions: a second call prints the directory at once,
# an edited script or an upgraded tool makes a new one; a build removes images unused for 7 days. Builds hold DIR/.lock, so concurrent
# callers (several test JVMs, several worktrees) build once. VERSION: --kernel, $MQB_GUEST_KERNEL,
# else the newest /boot/vmlinuz-* that has /lib/modules/VERSION/modules.dep.
# scripts/guest/install-guest-peers.sh installs what this needs; this script only checks.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kver=${MQB_GUEST_KERNEL:-}
cache=${MQB_GUEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mqblock/guest}
rebuild=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --kernel) kver=$2; shift ;;
    --cache) cache=$2; shift ;;
    --rebuild) rebuild=1 ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-initramfs: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
die() { echo "build-initramfs: $*" >&2; exit 1; }

# The modules the guest loads (with their dependencies); built-in ones are skipped.
want_modules=(virtio_pci virtio_blk)

if [[ -z "$kver" ]]; then
  kver=$(for k in /boot/vmlinuz-*; do
           v=${k#/boot/vmlinuz-}
           [[ -f "/lib/modules/$v/modules.dep" ]] && echo "$v"
         done | sort -V | tail -n 1)
  [[ -n "$kver" ]] || die "no /boot/vmlinuz-* with /lib/modules/*/modules.dep (install linux-image-amd64: scripts/guest/install-guest-peers.sh)"
fi
bzimage=/boot/vmlinuz-$kver
moddir=/lib/modules/$kver
[[ -r "$bzimage" ]] || die "cannot read $bzimage"
[[ -r "$moddir/modules.dep" ]] || die "no $moddir/modules.dep"
for tool in busybox fio blkdiscard cpio ldd od dd flock sha256sum; do
  command -v "$tool" >/dev/null || die "'$tool' not found (scripts/guest/install-guest-peers.sh installs the guest's tools)"
done
busybox=$(command -v busybox)

key_input() {
  cat "$here/build-initramfs.sh" "$here/extract-vmlinux.sh" "$here/init" "$here/mqb.sh" "$here"/tests/*.sh
  fio --version
  "$busybox" 2>&1 | head -n 1
  stat -c '%s %Y' "$bzimage" "$(command -v fio)" "$busybox"
}
hash=$(key_input | sha256sum | cut -c1-12)
dir=$cache/$kver-$hash
mkdir -p "$cache"
if [[ $rebuild -eq 0 && -f "$dir/done" ]]; then
  touch "$dir/done"   # last use, for the pruning below
  echo "$dir"
  exit 0
fi

exec 8>"$cache/.lock"
flock -w 600 8 || die "another build has held $cache/.lock for 10 minutes"
if [[ $rebuild -eq 0 && -f "$dir/done" ]]; then   # built by whoever held the lock before us
  echo "$dir"
  exit 0
fi
t0=$(date +%s.%N)
work=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,run,etc,lib/modules,tests}
ln -s bin "$root/sbin"
mkdir -p "$root/usr"
ln -s ../bin "$root/usr/bin"
ln -s ../bin "$root/usr/sbin"

# busybox and its applets. Debian's busybox-static needs no libraries; a dynamic one gets them below.
cp -L "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [[ -e "$root/bin/$applet" ]] || ln -s busybox "$root/bin/$applet"
done

# A binary and every shared library ldd resolves for it, at the paths ldd prints (so the loader
# finds them by its default paths and the binaries' RUNPATHs, without an ld.so.cache).
copy_with_libs() { # copy_with_libs BINARY DEST-IN-ROOT
  local bin=$1 dest=$2 lib
  rm -f "$root$dest"
  cp -L "$bin" "$root$dest"
  while read -r lib; do
    [[ -n "$lib" ]] || continue
    [[ -e "$root$lib" ]] && continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done < <(ldd "$bin" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
  if ldd "$bin" 2>/dev/null | grep -q 'not found'; then
    die "ldd $bin: $(ldd "$bin" | grep 'not found' | tr '\n' ' ')"
  fi
}
if ldd "$busybox" >/dev/null 2>&1; then copy_with_libs "$busybox" /bin/busybox; fi
copy_with_libs "$(command -v fio)" /bin/fio
copy_with_libs "$(command -v blkdiscard)" /bin/blkdiscard

# Modules in dependency order: each module after everything modules.dep says it needs.
declare -A path_of=() seen=()
while IFS= read -r line; do
  p=${line%%:*}
  n=${p##*/}; n=${n%%.ko*}; n=${n//-/_}
  path_of[$n]=$p
done < "$moddir/modules.dep"
builtin() { grep -qE "/${1//_/[-_]}\.ko\$" "$moddir/modules.builtin" 2>/dev/null; }
order=()
visit() { # visit NAME: appends NAME's dependencies, then NAME, to order
  local n=${1//-/_} dep deps
  [[ -n "${seen[$n]:-}" ]] && return 0
  seen[$n]=1
  if [[ -z "${path_of[$n]:-}" ]]; then
    builtin "$n" && return 0
    die "module $n is neither in $moddir/modules.dep nor built in"
  fi
  deps=$(grep -E "^${path_of[$n]//./\\.}:" "$moddir/modules.dep" | cut -d: -f2-)
  for dep in $deps; do
    dep=${dep##*/}; dep=${dep%%.ko*}
    visit "$dep"
  done
  order+=("${path_of[$n]}")
}
for m in "${want_modules[@]}"; do visit "$m"; done
: > "$root/lib/modules/load.order"
for p in "${order[@]}"; do
  name=${p##*/}; base=${name%%.ko*}.ko
  case "$name" in
    *.ko)     cp "$moddir/$p" "$root/lib/modules/$base" ;;
    *.ko.xz)  xz -dc "$moddir/$p" > "$root/lib/modules/$base" ;;
    *.ko.zst) zstd -dcq "$moddir/$p" > "$root/lib/modules/$base" ;;
    *.ko.gz)  gzip -dc "$moddir/$p" > "$root/lib/modules/$base" ;;
    *) die "unknown module compression: $p" ;;
  esac
  echo "$base" >> "$root/lib/modules/load.order"
done

cp "$here/init" "$root/init"
chmod 755 "$root/init"
cp "$here/mqb.sh" "$root/lib/mqb.sh"
cp "$here"/tests/*.sh "$root/tests/"
echo "root:x:0:0:root:/:/bin/sh" > "$root/etc/passwd"

(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) > "$work/initramfs.cpio"
"$here/extract-vmlinux.sh" "$bzimage" "$work/vmlinux" 2>"$work/extract.log" \
  || die "$(cat "$work/extract.log")"

{
  echo "kernel: $kver ($bzimage)"
  echo "key: $kver-$hash"
  echo "vmlinux: $(stat -c %s "$work/vmlinux") bytes, $(sed -n 's/.*: \([a-z0-9]*\) payload.*/\1/p' "$work/extract.log") payload of $bzimage"
  echo "initramfs: $(stat -c %s "$work/initramfs.cpio") bytes, $(cd "$root" && find . | wc -l) entries"
  echo "modules (load order): $(tr '\n' ' ' < "$root/lib/modules/load.order")"
  echo "fio: $(fio --version)"
  echo "busybox: $("$busybox" 2>&1 | head -n 1)"
  echo "blkdiscard: $(blkdiscard --version 2>&1 | head -n 1)"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
} > "$work/info.txt"
rm -rf "$root" "$work/extract.log"
touch "$work/done"
rm -rf "$dir"
mv "$work" "$dir"
trap - EXIT
# Images nobody has used for 7 days (other script versions, old kernels) go: ~150 MB each.
find "$cache" -mindepth 2 -maxdepth 2 -name done -mtime +7 -printf '%h\n' 2>/dev/null | while read -r old; do
  if [[ "$old" != "$dir" ]]; then rm -rf "$old"; fi
done
echo "build-initramfs: built $dir" >&2
sed 's/^/  /' "$dir/info.txt" >&2
echo "$dir"
