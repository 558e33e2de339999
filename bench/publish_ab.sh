#!/usr/bin/env bash
# Durable publish, two freshet binaries alternated on the same machine (the
# noise here moves both alike): ROUNDS rounds of `fanout_bench publish
# --publishers 64 --seconds 10` against each, with the server's CPU time (user
# + system, from /proc) per acknowledged broadcast.
#   bench/publish_ab.sh BEFORE_BIN AFTER_BIN [ROUNDS] [GEN]
set -euo pipefail
before=$1 after=$2 rounds=${3:-4} gen=${4:-build/bench/fanout_bench}
port=18941
source "$(dirname "$0")/ab_lib.sh"
ticks=$(getconf CLK_TCK)
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run_one() {
  local bin=$1 label=$2
  start_server "$bin" $port
  local c0; c0=$(cpu_of $pid)
  local out; out=$("$gen" publish --target freshet --port $port --publishers 64 --seconds 10)
  local c1; c1=$(cpu_of $pid)
  kill -TERM $pid; wait $pid || true
  local acked; acked=$(echo "$out" | grep -oE '"acked": *[0-9]+' | grep -oE '[0-9]+$')
  local rate; rate=$(echo "$out" | grep -oE '"acked_per_second": *[0-9.]+' | grep -oE '[0-9.]+$')
  awk -v l="$label" -v a="$acked" -v r="$rate" -v c=$((c1 - c0)) -v t="$ticks" \
    'BEGIN { printf "%s acked_per_second=%.0f acked=%d server_cpu_s=%.2f cpu_us_per_ack=%.1f\n", l, r, a, c / t, (c / t) * 1e6 / a }'
}
for r in $(seq "$rounds"); do
  run_one "$before" before
  run_one "$after" after
done
