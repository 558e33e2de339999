#!/usr/bin/env bash
# Durable publish on the two engines, alternated on the same machine (issue
# #13): ROUNDS rounds of 64 publishers for SECONDS against one instance on
# SQLite, then against two instances on one Redis (appendonly yes,
# appendfsync always; 32 publishers on each, at once). Reports acknowledged
# broadcasts/s and the CPU time (user + system, from /proc) per acknowledged
# broadcast of the Freshet processes and of redis-server, and the ack
# latency (sent to answered) p50/p99 of each load generator.
#   bench/redis_publish.sh [ROUNDS] [SECONDS] [BIN] [GEN]
set -euo pipefail
rounds=${1:-3} seconds=${2:-10} bin=${3:-build/src/freshet} gen=${4:-build/bench/fanout_bench}
redis_port=18960
source "$(dirname "$0")/redis_lib.sh"
acked_of() { grep -oE '"acked": *[0-9]+' | grep -oE '[0-9]+$'; }
ack_ms() { grep -oE "\"$1\":[0-9.]+" "$2" | tail -1 | cut -d: -f2; }  # p50|p99 file
report() {  # label acked cpu_ticks redis_ticks
  awk -v l="$1" -v a="$2" -v c="$3" -v r="$4" -v t="$ticks" -v s="$seconds" 'BEGIN {
    printf "%s acked_per_second=%.0f acked=%d freshet_cpu_us_per_ack=%.1f redis_cpu_us_per_ack=%.1f\n",
           l, a / s, a, (c / t) * 1e6 / a, (r / t) * 1e6 / a }'
}
for _ in $(seq "$rounds"); do
  rm -rf "$work"/*
  start_freshet sqlite 18961; p=$started
  c0=$(cpu_of "$p")
  "$gen" publish --target freshet --port 18961 --publishers 64 --seconds "$seconds" > "$work/g1"
  a=$(acked_of < "$work/g1")
  c1=$(cpu_of "$p")
  stop_pids "$p"
  report sqlite-one-instance "$a" $((c1 - c0)) 0
  echo "  ack_ms p50=$(ack_ms p50 "$work/g1") p99=$(ack_ms p99 "$work/g1")"

  start_redis
  store='[store]\nengine = "redis"\n'
  start_freshet a 18962 "$(printf "$store")"; pa=$started
  start_freshet b 18963 "$(printf "$store")"; pb=$started
  c0=$(( $(cpu_of "$pa") + $(cpu_of "$pb") )); r0=$(cpu_of "$rp")
  "$gen" publish --target freshet --port 18962 --publishers 32 --seconds "$seconds" > "$work/ga" &
  ga=$!
  "$gen" publish --target freshet --port 18963 --publishers 32 --seconds "$seconds" > "$work/gb"
  wait "$ga"
  c1=$(( $(cpu_of "$pa") + $(cpu_of "$pb") )); r1=$(cpu_of "$rp")
  stop_pids "$pa" "$pb"
  stop_pids "$rp"
  a=$(( $(acked_of < "$work/ga") + $(acked_of < "$work/gb") ))
  report redis-two-instances "$a" $((c1 - c0)) $((r1 - r0))
  echo "  ack_ms p50=$(ack_ms p50 "$work/ga")/$(ack_ms p50 "$work/gb") p99=$(ack_ms p99 "$work/ga")/$(ack_ms p99 "$work/gb") (each instance)"
done
