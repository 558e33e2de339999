#!/usr/bin/env bash
# Memory per idle SSE connection, two freshet binaries alternated on the same
# machine (the noise here moves both alike): ROUNDS rounds of epoll_sse_bench
# with SUBS subscribers (default 1,000) and a 2,000-event burst against each,
# printing the server's RSS per connection (after the subscribers connected
# and the server settled, less before) and its CPU per delivery.
#   bench/memory_ab.sh BEFORE_BIN AFTER_BIN [ROUNDS] [SUBS] [GEN]
set -euo pipefail
before=$1 after=$2 rounds=${3:-5} subs=${4:-1000} gen=${5:-build/bench/epoll_sse_bench}
port=18945
source "$(dirname "$0")/ab_lib.sh"
run_one() {
  local bin=$1 label=$2
  start_server "$bin" $port
  local out; out=$("$gen" --target freshet --port $port --server-pids $pid --subscribers "$subs" --events 2000 --publishers 16)
  kill -TERM $pid; wait $pid || true
  echo "$out" | python3 -c "
import json, sys
r = json.loads(sys.stdin.read())
print(f\"$label bytes_per_connection={r['bytes_per_connection']:.0f} cpu_us_per_delivery={r['server_cpu_us_per_delivery']:.3f} deliveries_per_second={r['deliveries_per_second']:.0f} loss={r['loss']}\")"
}
for r in $(seq "$rounds"); do
  run_one "$before" before
  run_one "$after" after
done
