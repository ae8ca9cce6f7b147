# /lib/mqb.sh: helpers for guest tests, sourced by /init before it sources the test. Results go
# to the console between the markers /init's header describes; the host parses them.

# mqb_result NAME CMD [ARG...]: runs CMD, prints its output (stdout and stderr) as section NAME,
# and returns CMD's exit status.
mqb_result() {
  _name=$1
  shift
  "$@" > "/tmp/.mqb-$_name" 2>&1
  _rc=$?
  mqb_print "$_name" "/tmp/.mqb-$_name"
  return $_rc
}

# mqb_print NAME FILE: prints FILE as section NAME.
mqb_print() {
  echo "=== MQB-BEGIN $1 ==="
  cat "$2"
  # a section always ends on its own line, whether or not FILE ended with a newline
  [ -z "$(tail -c 1 "$2")" ] || echo
  echo "=== MQB-END $1 ==="
}

# mqb_mark NAME: tells the host a point in the test (it samples CPU counters there).
mqb_mark() {
  echo "=== MQB-MARK $1 $(cut -d' ' -f1 /proc/uptime) ==="
}

# mqb_queues DEV: the number of blk-mq hardware queues the guest made for DEV (e.g. vda).
mqb_queues() {
  ls -d "/sys/block/$1/mq/"* | wc -l
}

# mqb_hctx DEV: "hctxN queued-count" per hardware queue, from debugfs: which queues carried I/O.
mqb_hctx() {
  for h in /sys/kernel/debug/block/"$1"/hctx*; do
    echo "$(basename "$h") $(cat "$h/queued")"
  done
}

# mqb_stat DEV: /sys/block/DEV/stat by name (Documentation/block/stat.rst).
mqb_stat() {
  set -- "$1" $(cat "/sys/block/$1/stat")
  echo "read_ios $2"
  echo "write_ios $6"
  echo "discard_ios ${13:-0}"
  echo "flush_ios ${17:-0}"
}

# mqb_limits DEV: what the device advertised, as the guest's block layer sees it.
mqb_limits() {
  for f in logical_block_size physical_block_size discard_max_bytes write_zeroes_max_bytes \
           write_cache nr_requests max_sectors_kb; do
    echo "$f $(cat "/sys/block/$1/queue/$f")"
  done
  echo "size_bytes $(( $(cat "/sys/block/$1/size") * 512 ))"
  echo "queues $(mqb_queues "$1")"
}
