#!/usr/bin/env bash
# extract-vmlinux.sh BZIMAGE OUT
#
# Writes the uncompressed kernel (an ELF with a PVH entry note, which QEMU's -kernel boots
# directly) found inside an x86 bzImage, so that a TCG guest does not spend ~3 s decompressing
# itself. Our own reading of the boot protocol (Documentation/arch/x86/boot.rst), not Linux's
# scripts/extract-vmlinux: the setup header says where the compressed payload is
#   0x1f1  setup_sects     (1 byte; 0 means 4) -> the protected-mode part starts at (setup_sects+1)*512
#   0x202  "HdrS"          header magic; 0x206 the protocol version, 2.08+ has the two fields below
#   0x248  payload_offset  (u32, from the start of the protected-mode part)
#   0x24c  payload_length  (u32; the kernel build appends the uncompressed size as a u32 at its end)
# and the payload's first bytes say how it was compressed (gzip, xz, zstd, lzma, bzip2, lz4).
# Exit status: 0 with OUT written (atomically), non-zero with a message otherwise.
set -euo pipefail

[[ $# -eq 2 ]] || { echo "usage: extract-vmlinux.sh BZIMAGE OUT" >&2; exit 2; }
img=$1 out=$2
[[ -r "$img" ]] || { echo "extract-vmlinux: cannot read $img" >&2; exit 2; }

u() { # u OFFSET BYTES: unsigned little-endian integer at OFFSET
  od -An -v -t "u$2" -j "$1" -N "$2" "$img" | tr -d ' '
}
hex() { # hex OFFSET BYTES: the bytes as lowercase hex, no spaces
  od -An -v -t x1 -j "$1" -N "$2" "$img" | tr -d ' \n'
}

[[ "$(hex 514 4)" == "48647253" ]] || { echo "extract-vmlinux: $img is not a bzImage (no HdrS at 0x202)" >&2; exit 3; }
version=$(u 518 2)
(( version >= 0x208 )) || { echo "extract-vmlinux: boot protocol $(printf '%#x' "$version") has no payload fields (needs 2.08+)" >&2; exit 3; }
setup_sects=$(u 497 1)
(( setup_sects == 0 )) && setup_sects=4
offset=$(( (setup_sects + 1) * 512 + $(u 584 4) ))
length=$(u 588 4)
size=$(stat -c %s "$img")
(( length > 4 && offset + length <= size )) || { echo "extract-vmlinux: payload $offset+$length outside $img ($size bytes)" >&2; exit 3; }
# The build appends the uncompressed size (u32 LE) to the compressed stream: keep it for the check.
expect=$(u $(( offset + length - 4 )) 4)
magic=$(hex "$offset" 6)
case "$magic" in
  1f8b*)         fmt=gzip;  dec=(gzip -dcq) ;;
  fd377a585a00)  fmt=xz;    dec=(xz -dcq --single-stream) ;;
  28b52ffd*)     fmt=zstd;  dec=(zstd -dcq) ;;
  5d0000*)       fmt=lzma;  dec=(xz -dcq --format=lzma) ;;
  425a68*)       fmt=bzip2; dec=(bzip2 -dcq) ;;
  02214c18*)     fmt=lz4;   dec=(lz4 -dcq) ;;
  7f454c46*)     fmt=none;  dec=(cat) ;;
  *) echo "extract-vmlinux: unknown compression, payload starts with $magic" >&2; exit 3 ;;
esac
command -v "${dec[0]}" >/dev/null || { echo "extract-vmlinux: the payload is $fmt, but '${dec[0]}' is not installed" >&2; exit 4; }

tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
# gzip exits 2 on the trailing size word ("trailing garbage ignored"): a warning, not a failure.
set +e
dd if="$img" bs=64K skip="$offset" count=$(( length - 4 )) iflag=skip_bytes,count_bytes status=none | "${dec[@]}" > "$tmp"
rc=${PIPESTATUS[1]}
set -e
if (( rc != 0 )) && ! [[ $fmt == gzip && $rc -eq 2 ]]; then
  echo "extract-vmlinux: ${dec[*]} failed (status $rc) on the $fmt payload at $offset" >&2; exit 5
fi
[[ "$(od -An -t x1 -N4 "$tmp" | tr -d ' \n')" == "7f454c46" ]] || { echo "extract-vmlinux: the $fmt payload did not decompress to an ELF" >&2; exit 5; }
got=$(stat -c %s "$tmp")
[[ $fmt == none || $got -eq $expect ]] || { echo "extract-vmlinux: decompressed $got bytes, the header says $expect" >&2; exit 5; }
mv -f "$tmp" "$out"
trap - EXIT
echo "extract-vmlinux: $img: $fmt payload of $length bytes at $offset -> $out ($got bytes)" >&2
