#!/usr/bin/env bash
# A records page of 1,000 (GET /api/objects/laptops/records?limit=1000 from
# `freshet demo`'s 2,400 laptops, trickle off), two freshet binaries
# alternated: ROUNDS rounds of `fanout_bench get` with 8 keep-alive
# connections for 8 s against each, with the server's CPU time per page.
#   bench/records_ab.sh BEFORE_BIN AFTER_BIN [ROUNDS] [GEN]
set -euo pipefail
before=$1 after=$2 rounds=${3:-3} gen=${4:-build/bench/fanout_bench}
port=18951
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
ticks=$(getconf CLK_TCK)
run_one() {
  local bin=$1 label=$2
  "$bin" --log-level warn demo --port $port --changes-per-second 0 --data-dir "$work/d-$label-$RANDOM" > "$work/log" 2>&1 &
  local pid=$!
  for _ in $(seq 400); do
    n=$(curl -sf "http://127.0.0.1:$port/api/objects" | grep -oE '"name":"laptops"[^]]*"records":[0-9]+' | grep -oE '[0-9]+$' || true)
    [ "${n:-0}" -ge 2400 ] && break
    sleep 0.05
  done
  local c0; c0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  local out; out=$("$gen" get --port $port --path "/api/objects/laptops/records?limit=1000" --connections 8 --seconds 8)
  local c1; c1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill -TERM $pid; wait $pid || true
  echo "$label $out" | sed 's/^/  /' >&2
  local reqs; reqs=$(echo "$out" | grep -oE '"ok":[0-9]+' | grep -oE '[0-9]+$')
  awk -v l="$label" -v r="$reqs" -v c=$((c1 - c0)) -v t="$ticks" \
    'BEGIN { printf "%s pages=%d per_second=%.0f server_cpu_ms_per_page=%.3f\n", l, r, r / 8, (c / t) * 1e3 / r }'
}
for r in $(seq "$rounds"); do
  run_one "$before" before
  run_one "$after" after
done
