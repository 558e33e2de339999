#!/usr/bin/env bash
# Fan-out across instances on one Redis against one instance (issue #13),
# alternated on the same machine: ROUNDS rounds of SUBS SSE subscribers and
# a burst of EVENTS broadcasts (16 publishers), first on one instance on
# SQLite, then on two instances on one Redis (appendonly yes, appendfsync
# always) with the subscribers split between them and every broadcast
# posted to the first, so half the deliveries cross Redis (the second
# instance hears them on its tail). Reports deliveries/s, latency p50/p99,
# the latency of each instance's subscribers (their difference is the hop
# through Redis), and CPU time (user + system, from /proc) per delivery of
# the Freshet processes and of redis-server.
# RATE > 0 paces the broadcasts at RATE/s instead (one publisher): with
# little queueing, the latency is the path's, and the hop shows best.
#   bench/redis_fanout.sh [ROUNDS] [SUBS] [EVENTS] [RATE] [BIN] [GEN]
set -euo pipefail
rounds=${1:-3} subs=${2:-10000} events=${3:-300} rate=${4:-0} bin=${5:-build/src/freshet} gen=${6:-build/bench/fanout_bench}
pace="--publishers 16"
if [ "$rate" != 0 ]; then pace="--rate $rate --publishers 1"; fi
redis_port=18970
source "$(dirname "$0")/redis_lib.sh"
field() { grep -oE "\"$1\": *[0-9.]+" | head -1 | grep -oE '[0-9.]+$'; }
report() {  # label result-file freshet_ticks redis_ticks
  local d p50 p99
  d=$(field deliveries < "$2"); p50=$(grep -oE '"p50":[0-9.]+' "$2" | head -1 | cut -d: -f2)
  p99=$(grep -oE '"p99":[0-9.]+' "$2" | head -1 | cut -d: -f2)
  awk -v l="$1" -v d="$d" -v r="$(field deliveries_per_second < "$2")" -v a="$p50" -v b="$p99" -v c="$3" -v x="$4" \
      -v t="$ticks" 'BEGIN { printf "%s deliveries=%d deliveries_per_second=%.0f p50_ms=%s p99_ms=%s freshet_cpu_us_per_delivery=%.2f redis_cpu_us_per_delivery=%.2f\n",
                      l, d, r, a, b, (c / t) * 1e6 / d, (x / t) * 1e6 / d }'
  grep fanout_by_port "$2" || true
}
for _ in $(seq "$rounds"); do
  rm -rf "${work:?}"/*
  start_freshet sqlite 18971; p=$started
  c0=$(cpu_of "$p")
  "$gen" fanout --target freshet --port 18971 --server-pids "$p" --subscribers "$subs" --events "$events" \
    $pace --settle 15 > "$work/one"
  c1=$(cpu_of "$p")
  stop_pids "$p"
  report sqlite-one-instance "$work/one" $((c1 - c0)) 0

  start_redis
  store='[store]\nengine = "redis"\n'
  start_freshet a 18972 "$(printf "$store")"; pa=$started
  start_freshet b 18973 "$(printf "$store")"; pb=$started
  c0=$(( $(cpu_of "$pa") + $(cpu_of "$pb") )); r0=$(cpu_of "$rp")
  "$gen" fanout --target freshet --port 18972 --sub-ports 18972,18973 --server-pids "$pa,$pb" \
    --subscribers "$subs" --events "$events" $pace --settle 15 > "$work/two"
  c1=$(( $(cpu_of "$pa") + $(cpu_of "$pb") )); r1=$(cpu_of "$rp")
  stop_pids "$pa" "$pb"
  stop_pids "$rp"
  report redis-two-instances "$work/two" $((c1 - c0)) $((r1 - r0))
done
