#!/usr/bin/env bash
# vhost-bench.sh [--quick] [--out DIR] [--size SIZE] [--runtime S] [--ramp S] [--repeat N] [--only LIST]
#
# F10's measurements: the same mqb jobs (mqb run --target vhost-user:SOCK, the front-end in its own
# JVM: guest RAM as a memfd, one virtqueue and one submitter thread per job) against
# vhost-user-blk exports of qemu-storage-daemon and of mqb serve, all up at once, alternated job by
# job (the order rotates), the whole matrix repeated --repeat times:
#   null backend (device emulation path only)
#     qsd-null       qemu-storage-daemon, driver=null-co,read-zeroes=off, one IOThread (iothread=iot0)
#     mqb-null       mqb serve --backend driver=null --iothreads 2 (one IOThread per queue)
#     mqb-null-1iot  the same with --iothreads 1 (both queues on one IOThread, as qsd)
#   raw file in /dev/shm (prefilled, so reads hit pages)
#     qsd-io_uring   qemu-storage-daemon, driver=file,aio=io_uring, one IOThread
#     qsd-threads    the same with aio=threads
#     mqb-file       mqb serve --backend driver=file --iothreads 2
#     mqb-file-1iot  the same with --iothreads 1
# Jobs: 4k randread and randwrite x iodepth 1, 32, 128 x 1 and 2 queues (numjobs); --quick: iodepth 32
# with 2 queues only, 1 s each after a 0.3 s ramp. The mqb servers run while our export exists in
# 'mqb serve' (branch vhu13); until then they are skipped and DIR/pending.txt says so.
# Servers run unpinned (qsd's threads are; MQB_SERVE_OPTS, default "--pin off", changes ours), and
# so does the front-end (--pin off).
#
# Per measurement the front-end itself reads the backend's utime+stime over the measured window
# from /proc/PID/stat and /proc/PID/task/*/stat (the PID from SO_PEERCRED), so CPU per I/O covers
# exactly the window; each row also has the 1-minute load average just before the job.
# Writes DIR/vhost-bench.csv (one row per measurement:
#   backend,server,rw,iodepth,queues,rep,iops,p50_us,p99_us,backend_cpu_us_per_io,backend_cpu_pct,
#   busiest_thread,busiest_thread_pct,frontend_cpu_pct,load1),
# DIR/json/*.json (each job's fio JSON+, with mqblock.backend.threads: every backend thread's CPU
# share and the CPU it last ran on), DIR/machine.txt and DIR/servers.txt. Holds /tmp/mqblock-cpu.lock
# for each job (all its servers), since other people benchmark on this machine.
# Installs qemu-storage-daemon and jq (scripts/install-vhost-peers.sh) when missing; exits 3 when it
# cannot (F10 is then NOT TESTABLE HERE).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$here/results/F10"
size=1G
quick=0
runtime=""
ramp=""
repeat=3
only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out="$2"; shift ;;
    --size) size="$2"; shift ;;
    --runtime) runtime="$2"; shift ;;
    --ramp) ramp="$2"; shift ;;
    --repeat) repeat="$2"; shift ;;
    --only) only="$2"; shift ;;
    -h|--help) sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "vhost-bench: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
if [[ $quick -eq 1 ]]; then
  depths=(32); queues=(2); runtime=${runtime:-1}; ramp=${ramp:-0.3}; warmup=2; size=256M
else
  depths=(1 32 128); queues=(1 2); runtime=${runtime:-4}; ramp=${ramp:-1}; warmup=5
fi
rws=(randread randwrite)
all_servers=(qsd-null mqb-null mqb-null-1iot qsd-io_uring qsd-threads mqb-file mqb-file-1iot)
serve_opts=${MQB_SERVE_OPTS:---pin off}

source "$here/scripts/jdk.sh"
mqb_use_jdk vhost-bench || exit 1
"$here/scripts/install-vhost-peers.sh" || { echo "vhost-bench: qemu-storage-daemon or jq unavailable" >&2; exit 3; }
command -v mvn >/dev/null || { echo "vhost-bench: 'mvn' not found (Debian: apt-get install maven)" >&2; exit 1; }
jar="$here/experiments/target/mqb.jar"
"$here/mqb" --version >/dev/null   # builds mqb.jar when missing or stale

bytes=$(numfmt --from=iec "${size^^}")
mkdir -p "$out/json"
out="$(cd "$out" && pwd)"
rm -f "$out"/json/*.json "$out/pending.txt"
work="$(mktemp -d /tmp/vhost-bench.XXXXXX)"
declare -A pid sock kind
servers=()
for s in "${all_servers[@]}"; do
  [[ -z "$only" || ",$only," == *",$s,"* ]] && servers+=("$s")
done

cleanup() {
  for s in "${!pid[@]}"; do
    if kill -0 "${pid[$s]}" 2>/dev/null; then
      kill -TERM "${pid[$s]}" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "${pid[$s]}" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "${pid[$s]}" 2>/dev/null || true
    fi
  done
  rm -f /dev/shm/vhost-bench-$$-*.img
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Our export exists once 'mqb serve' knows it.
ours=0
if java "${mqb_java_flags[@]}" -jar "$jar" serve --help 2>&1 | grep -q 'vhost-user-blk'; then
  ours=1
else
  echo "our vhost-user-blk export is not in 'mqb serve' yet (branch vhu13): the mqb-* servers were not run" \
    > "$out/pending.txt"
  echo "vhost-bench: $(cat "$out/pending.txt")" >&2
  kept=()
  for s in "${servers[@]}"; do [[ $s == mqb-* ]] || kept+=("$s"); done
  servers=("${kept[@]}")
fi

image() { # server -> a prefilled raw image of its own in /dev/shm
  local f="/dev/shm/vhost-bench-$$-$1.img"
  dd if=/dev/zero of="$f" bs=1M count=$((bytes >> 20)) status=none
  echo "$f"
}

qsd() { # name blockdev
  local s=$1 bd=$2
  qemu-storage-daemon --object iothread,id=iot0 --blockdev "$bd" \
    --export "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=${sock[$s]},writable=on,num-queues=2,iothread=iot0" \
    >"$work/$s.log" 2>&1 &
  pid[$s]=$!
}

mqbserve() { # name backend-options iothreads
  local s=$1 be=$2 n=$3
  # shellcheck disable=SC2086
  java "${mqb_java_flags[@]}" -jar "$jar" serve --backend "$be" --export "vhost-user-blk,addr.path=${sock[$s]},num-queues=2,writable=on" \
    --iothreads "$n" $serve_opts >"$work/$s.log" 2>&1 &
  pid[$s]=$!
}

for s in "${servers[@]}"; do
  sock[$s]="$work/$s.sock"
  case $s in
    qsd-null)      kind[$s]=null; qsd "$s" "driver=null-co,node-name=disk0,size=$bytes,read-zeroes=off" ;;
    qsd-io_uring)  kind[$s]=file; qsd "$s" "driver=file,node-name=disk0,filename=$(image "$s"),aio=io_uring" ;;
    qsd-threads)   kind[$s]=file; qsd "$s" "driver=file,node-name=disk0,filename=$(image "$s"),aio=threads" ;;
    mqb-null)      kind[$s]=null; mqbserve "$s" "driver=null,size=$bytes" 2 ;;
    mqb-null-1iot) kind[$s]=null; mqbserve "$s" "driver=null,size=$bytes" 1 ;;
    mqb-file)      kind[$s]=file; mqbserve "$s" "driver=file,filename=$(image "$s"),size=$bytes" 2 ;;
    mqb-file-1iot) kind[$s]=file; mqbserve "$s" "driver=file,filename=$(image "$s"),size=$bytes" 1 ;;
  esac
done
for s in "${servers[@]}"; do
  for _ in $(seq 300); do
    [[ -S "${sock[$s]}" ]] && break
    kill -0 "${pid[$s]}" 2>/dev/null || { echo "vhost-bench: $s exited; its log:" >&2; cat "$work/$s.log" >&2; exit 1; }
    sleep 0.1
  done
  [[ -S "${sock[$s]}" ]] || { echo "vhost-bench: $s did not listen on ${sock[$s]} within 30 s" >&2; exit 1; }
done

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$here" diff --quiet 2>/dev/null || echo ' (dirty)')"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) CPUs"
  echo "kernel: $(uname -r)"
  echo "java: $(java -version 2>&1 | head -1)"
  echo "qemu-storage-daemon: $(qemu-storage-daemon --version | head -1)"
  echo "size: $size, runtime: ${runtime}s after a ${ramp}s ramp per job, repeat: $repeat, quick: $quick"
  echo "servers: ${servers[*]}"
  echo "mqb serve options: $serve_opts; front-end: --pin off"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out/machine.txt"
for s in "${servers[@]}"; do
  echo "$s: pid ${pid[$s]}, $(tr '\0' ' ' < "/proc/${pid[$s]}/cmdline")"
done > "$out/servers.txt"

run_job() { # server rw depth queues runtime ramp outfile
  java "${mqb_java_flags[@]}" -jar "$jar" run --target "vhost-user:${sock[$1]}" --rw "$2" --bs 4k --iodepth "$3" \
    --numjobs "$4" --runtime "${5}s" --ramp-time "${6}s" --pin off --output "$7" > "$7.txt" 2>&1 \
    || { echo "vhost-bench: $1 $2 qd=$3 queues=$4 failed:" >&2; cat "$7.txt" >&2; exit 1; }
}

# Our servers are JVMs: their first seconds of requests run while C2 compiles the device path (a
# measured job saw the compiler thread busiest). A mixed job warms the read and the write path.
echo "vhost-bench: warm-up (${warmup}s of randrw each): the servers' and the JIT's first requests are not measured" >&2
for s in "${servers[@]}"; do
  run_job "$s" randrw 32 2 "$warmup" 0.5 "$work/warmup-$s.json"
done

csv="$out/vhost-bench.csv"
echo "backend,server,rw,iodepth,queues,rep,iops,p50_us,p99_us,backend_cpu_us_per_io,backend_cpu_pct,busiest_thread,busiest_thread_pct,frontend_cpu_pct,load1" > "$csv"
n=0
for r in $(seq "$repeat"); do
  for rw in "${rws[@]}"; do
    for qd in "${depths[@]}"; do
      for nq in "${queues[@]}"; do
        k=$((n % ${#servers[@]}))
        order=("${servers[@]:$k}" "${servers[@]:0:$k}")   # rotate job by job: no server always first
        n=$((n + 1))
        exec 9>/tmp/mqblock-cpu.lock
        [[ ${MQB_CPU_LOCK:-} == held ]] || flock 9 # held: the caller holds it (flock ... ./mqb reproduce)
        for s in "${order[@]}"; do
          f="$out/json/$s-$rw-qd$qd-q$nq-r$r.json"
          load=$(cut -d' ' -f1 /proc/loadavg)
          run_job "$s" "$rw" "$qd" "$nq" "$runtime" "$ramp" "$f"
          rm -f "$f.txt"
          dir=$([[ $rw == randread ]] && echo read || echo write)
          row=$(jq -r --arg d "$dir" '
            .jobs[0] as $j | $j[$d] as $x | .mqblock.backend as $b |
            [ $x.iops, ($x.clat_ns.percentile["50.000000"] / 1000), ($x.clat_ns.percentile["99.000000"] / 1000),
              $b.cpu_us_per_io, ($b.usr_cpu + $b.sys_cpu), ($b.threads[0].name // "-" | gsub("[ ,]"; "_")),
              ($b.threads[0].cpu // 0), (.mqblock.process_cpu.usr_cpu + .mqblock.process_cpu.sys_cpu) ] | map(tostring) | join(",")' "$f")
          echo "${kind[$s]},$s,$rw,$qd,$nq,$r,$row,$load" >> "$csv"
          IFS=, read -r iops p50 p99 cpuio _ busy busypct _ <<< "$row"
          printf 'vhost-bench: r%s %-13s %-9s qd=%-3s q=%s %9.0f IOPS  p50 %7.1f  p99 %7.1f us  %6.2f us CPU/IO  busiest %s %.0f%%  load %s\n' \
            "$r" "$s" "$rw" "$qd" "$nq" "$iops" "$p50" "$p99" "$cpuio" "$busy" "$busypct" "$load" >&2
        done
        flock -u 9
        exec 9>&-
      done
    done
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.txt"
echo "vhost-bench: wrote $csv, $out/json/, $out/machine.txt" >&2
