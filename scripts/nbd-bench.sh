#!/usr/bin/env bash
# nbd-bench.sh [--quick] [--out DIR] [--size SIZE] [--runtime S] [--repeat N]
#
# The same fio jobs (--ioengine=nbd, 4k randread and randwrite, iodepth 1/32/64, numjobs 1/2)
# against three NBD servers exporting RAM of the same size, alternated job by job in one run:
#   mqb       java -jar experiments/target/mqb.jar serve, memory backend   (this project)
#   qemu-nbd  qemu-nbd on a raw image in /dev/shm                          (qemu-utils)
#   nbdkit    nbdkit memory                                                (nbdkit)
# qemu-nbd runs with its defaults, cache=writeback and aio=threads: on tmpfs the image lives in the
# page cache (RAM, like the other two) and O_DIRECT is not available anyway; --shared=8 lets both
# connections of a numjobs=2 job in, -t (persistent) keeps it serving between fio runs.
# Every server gets the same sequential prefill (so reads return data, not holes) and a warm-up
# before the first measurement (the JVM compiles its hot path then).
#
# Writes DIR/nbd-bench.csv (server,rw,iodepth,numjobs,iops,p99_us,ratio_vs_qemu_nbd,iops_min,iops_max),
# DIR/fio-*.json (raw fio output), DIR/server-cpu.csv (server CPU time per I/O, from /proc) and
# DIR/machine.txt, and prints a side-by-side table. --quick: 3 s per job, iodepth 1 and 32,
# numjobs 1 (about two minutes). Default DIR: results/F9. Holds /tmp/mqblock-cpu.lock while
# measuring, since other people benchmark on the same machine. MQB_SERVE_OPTS adds options to
# 'mqb serve' (e.g. "--pin off --iothreads 2").
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$here/results/F9"
size=1G
quick=0
runtime=""
repeat=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out="$2"; shift ;;
    --size) size="$2"; shift ;;
    --runtime) runtime="$2"; shift ;;
    --repeat) repeat="$2"; shift ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "nbd-bench: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
if [[ $quick -eq 1 ]]; then
  depths=(1 32); jobs=(1); runtime=${runtime:-3}; warmup=3
else
  depths=(1 32 64); jobs=(1 2); runtime=${runtime:-10}; warmup=5
fi
rws=(randread randwrite)
servers=(mqb qemu-nbd nbdkit)

source "$here/scripts/jdk.sh"
mqb_use_jdk nbd-bench || exit 1
"$here/scripts/install-nbd-peers.sh"
for tool in jq:jq mvn:maven; do
  command -v "${tool%%:*}" >/dev/null || { echo "nbd-bench: '${tool%%:*}' not found (Debian: apt-get install ${tool#*:})" >&2; exit 1; }
done
jar="$here/experiments/target/mqb.jar"
"$here/mqb" --version >/dev/null   # builds mqb.jar when missing or stale

mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d /tmp/nbd-bench.XXXXXX)"   # fio's cwd: its *-verify.state files land here
img="/dev/shm/nbd-bench-$$.img"
declare -A pid port
cleanup() {
  for s in "${servers[@]}"; do
    if [[ -n "${pid[$s]:-}" ]] && kill -0 "${pid[$s]}" 2>/dev/null; then
      kill -TERM "${pid[$s]}" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "${pid[$s]}" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "${pid[$s]}" 2>/dev/null || true
    fi
  done
  rm -f "$img"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p=$1
  while listening "$p"; do p=$((p + 1)); done
  echo "$p"
}
wait_listening() {
  local s=$1
  for _ in $(seq 300); do
    listening "${port[$s]}" && return 0
    kill -0 "${pid[$s]}" 2>/dev/null || { echo "nbd-bench: $s exited; its log:" >&2; cat "$work/$s.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "nbd-bench: $s did not listen on ${port[$s]} within 30 s" >&2; exit 1
}

p=$(free_port 10901); port[mqb]=$p
p=$(free_port $((p + 1))); port[qemu-nbd]=$p
p=$(free_port $((p + 1))); port[nbdkit]=$p

# shellcheck disable=SC2086
java "${mqb_java_flags[@]}" -jar "$jar" serve --backend "driver=memory,size=$size" --export disk --tcp "127.0.0.1:${port[mqb]}" \
  ${MQB_SERVE_OPTS:-} >"$work/mqb.log" 2>&1 &
pid[mqb]=$!
rm -f "$img"; truncate -s "$size" "$img"
qemu-nbd -f raw -t --shared=8 -b 127.0.0.1 -p "${port[qemu-nbd]}" -x disk --cache=writeback --aio=threads "$img" \
  >"$work/qemu-nbd.log" 2>&1 &
pid[qemu-nbd]=$!
nbdkit -f -i 127.0.0.1 -p "${port[nbdkit]}" memory "$size" >"$work/nbdkit.log" 2>&1 &
pid[nbdkit]=$!
for s in "${servers[@]}"; do wait_listening "$s"; done

uri() { echo "nbd://127.0.0.1:${port[$1]}/disk"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
clk_tck=$(getconf CLK_TCK)

# fio prints "fio: connected to NBD server" lines before its JSON; keep only the JSON.
json_only() { sed -n '/^{/,$p' "$1" > "$1.tmp" && mv "$1.tmp" "$1"; }

run_fio() { # server rw depth jobs seconds outfile
  local s=$1 rw=$2 qd=$3 nj=$4 secs=$5 f=$6
  (cd "$work" && fio --name="$rw" --ioengine=nbd --uri="$(uri "$s")" --rw="$rw" --bs=4k \
      --iodepth="$qd" --numjobs="$nj" --group_reporting --time_based --runtime="$secs" \
      --size="$size" --randrepeat=0 --output-format=json --output="$f" >/dev/null)
  json_only "$f"
}

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$here" diff --quiet 2>/dev/null || echo ' (dirty)')"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) CPUs"
  echo "kernel: $(uname -r)"
  echo "java: $(java -version 2>&1 | head -1)"
  echo "qemu-nbd: $(qemu-nbd --version | head -1)"
  echo "nbdkit: $(nbdkit --version)"
  echo "fio: $(fio --version)"
  echo "size: $size, runtime: ${runtime}s per job, repeat: $repeat, quick: $quick"
  echo "mqb serve: ${MQB_SERVE_OPTS:-defaults}"
  grep -E '^  (Info|listening)' "$work/mqb.log" | sed 's/^/  /'
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out/machine.txt"

echo "nbd-bench: prefill and warm-up (${warmup}s each)" >&2
for s in "${servers[@]}"; do
  (cd "$work" && fio --name=prefill --ioengine=nbd --uri="$(uri "$s")" --rw=write --bs=1M --iodepth=8 \
      --size="$size" --output-format=terse >/dev/null)
  run_fio "$s" randread 32 1 "$warmup" "$work/warmup-$s.json"
done

csv="$out/nbd-bench.csv"
rows="$work/rows"
: > "$rows"
echo "server,rw,iodepth,numjobs,cpu_us_per_io" > "$out/server-cpu.csv"
n=0
for rw in "${rws[@]}"; do
  for qd in "${depths[@]}"; do
    for nj in "${jobs[@]}"; do
      for r in $(seq "$repeat"); do
        # rotate the order job by job, so no server always runs first or last
        order=("${servers[@]:$((n % 3))}" "${servers[@]:0:$((n % 3))}")
        n=$((n + 1))
        exec 9>/tmp/mqblock-cpu.lock
        [[ ${MQB_CPU_LOCK:-} == held ]] || flock 9 # held: the caller holds it (flock ... ./mqb reproduce)
        suffix=""
        if [[ $repeat -gt 1 ]]; then suffix="-r$r"; fi
        for s in "${order[@]}"; do
          f="$out/fio-$s-$rw-qd$qd-j$nj$suffix.json"
          t0=$(cpu_ticks "${pid[$s]}")
          run_fio "$s" "$rw" "$qd" "$nj" "$runtime" "$f"
          t1=$(cpu_ticks "${pid[$s]}")
          dir=$([[ $rw == randread ]] && echo read || echo write)
          read -r iops p99 < <(jq -r --arg d "$dir" \
            '.jobs[0][$d] | "\(.iops) \((.clat_ns.percentile["99.000000"] // 0) / 1000)"' "$f")
          echo "$s $rw $qd $nj $iops $p99" >> "$rows"
          awk -v s="$s" -v rw="$rw" -v qd="$qd" -v nj="$nj" -v t=$((t1 - t0)) -v hz="$clk_tck" \
              -v iops="$iops" -v secs="$runtime" \
              'BEGIN { printf "%s,%s,%s,%s,%.2f\n", s, rw, qd, nj, (iops > 0 ? t / hz * 1e6 / (iops * secs) : 0) }' \
              >> "$out/server-cpu.csv"
          printf 'nbd-bench: %-8s %-9s qd=%-2s jobs=%s  %9.0f IOPS  p99 %8.1f us\n' "$s" "$rw" "$qd" "$nj" "$iops" "$p99" >&2
        done
        flock -u 9
        exec 9>&-
      done
    done
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.txt"

# Median over repeats (and their min and max), then the ratio to qemu-nbd for the same job.
awk '
  { k = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4; n[k]++; iops[k, n[k]] = $5; p99[k, n[k]] = $6; keys[k] = 1 }
  function med(a, k, c,   i, j, t, v) {
    for (i = 1; i <= c; i++) v[i] = a[k, i]
    for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return c % 2 ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2
  }
  END {
    for (k in keys) {
      mi[k] = med(iops, k, n[k]); mp[k] = med(p99, k, n[k])
      lo[k] = hi[k] = iops[k, 1]
      for (i = 2; i <= n[k]; i++) { if (iops[k, i] < lo[k]) lo[k] = iops[k, i]; if (iops[k, i] > hi[k]) hi[k] = iops[k, i] }
    }
    for (k in keys) {
      split(k, f, SUBSEP); q = "qemu-nbd" SUBSEP f[2] SUBSEP f[3] SUBSEP f[4]
      printf "%s,%s,%s,%s,%.0f,%.1f,%.3f,%.0f,%.0f\n", f[1], f[2], f[3], f[4], mi[k], mp[k], (mi[q] > 0 ? mi[k] / mi[q] : 0), lo[k], hi[k]
    }
  }' "$rows" | sort -t, -k2,2 -k3,3n -k4,4n -k1,1 > "$work/body"
{ echo "server,rw,iodepth,numjobs,iops,p99_us,ratio_vs_qemu_nbd,iops_min,iops_max"; cat "$work/body"; } > "$csv"

# Side-by-side table.
awk -F, '
  NR > 1 { k = $2 "," $3 "," $4; if (!(k in seen)) { seen[k] = 1; order[++m] = k }
           iops[$1, k] = $5; p99[$1, k] = $6 }
  END {
    printf "\n%-9s %3s %4s | %10s %9s | %10s %9s | %10s %9s | %8s %8s\n", "rw", "qd", "jobs",
           "mqb IOPS", "p99 us", "qemu IOPS", "p99 us", "nbdkit", "p99 us", "mqb/qemu", "mqb/kit"
    for (i = 1; i <= m; i++) {
      k = order[i]; split(k, f, ",")
      printf "%-9s %3s %4s | %10.0f %9.1f | %10.0f %9.1f | %10.0f %9.1f | %7.2fx %7.2fx\n", f[1], f[2], f[3],
             iops["mqb", k], p99["mqb", k], iops["qemu-nbd", k], p99["qemu-nbd", k],
             iops["nbdkit", k], p99["nbdkit", k],
             (iops["qemu-nbd", k] > 0 ? iops["mqb", k] / iops["qemu-nbd", k] : 0),
             (iops["nbdkit", k] > 0 ? iops["mqb", k] / iops["nbdkit", k] : 0)
    }
  }' "$csv" | tee "$out/nbd-bench.txt"
echo
echo "nbd-bench: wrote $csv, $out/fio-*.json, $out/server-cpu.csv, $out/machine.txt"
