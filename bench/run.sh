#!/usr/bin/env bash
# The hub benchmark (docs/benchmarks.md): Freshet and nchan side by side, each
# scenario on freshly started servers, three runs each, medians reported.
#   bash bench/run.sh [BUILD_DIR]     (make bench does the set-up)
# REPS=1 for a quick look. ONLY=sync runs only the sync benchmarks
# (bench/sync_bench.py), ONLY=hub only the hub's (both load generators),
# ONLY=epoll only the second load generator's runs, ONLY=micro only the
# Google Benchmark binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
REPS=${REPS:-3}
BIN=$BUILD/src/freshet
GEN=$BUILD/bench/fanout_bench
WORK=$(mktemp -d /tmp/freshet-bench-XXXXXX)
RESULTS=$WORK/results.jsonl
FPORT=18931
NPORT=18932
trap 'kill $(jobs -p) 2>/dev/null || true; pkill -f "nginx -c $WORK" 2>/dev/null || true' EXIT

start_freshet() {
  rm -rf "$WORK/data"
  cat > "$WORK/freshet.toml" <<TOML
[server]
listen = "127.0.0.1:$FPORT"
data_dir = "$WORK/data"
auth = "none"
TOML
  "$BIN" --log-level warn serve --config "$WORK/freshet.toml" > "$WORK/freshet.log" 2>&1 &
  FPID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$FPORT/healthz" >/dev/null && return; sleep 0.05; done
  echo "freshet did not start" >&2; cat "$WORK/freshet.log" >&2; exit 1
}
stop_freshet() { kill -TERM "$FPID"; wait "$FPID" || true; }

start_nchan() {
  mkdir -p "$WORK/nginx"
  sed -e "s|@PORT@|$NPORT|; s|@DIR@|$WORK/nginx|g" bench/nchan.conf.in > "$WORK/nginx/nginx.conf"
  nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" > "$WORK/nginx/out.log" 2>&1 &
  NGPID=$!
  for _ in $(seq 100); do
    [ "$(pgrep -P "$NGPID" | wc -l)" -ge 2 ] && curl -s -o /dev/null "http://127.0.0.1:$NPORT/" && break
    sleep 0.05
  done
  NPIDS=$(pgrep -P "$NGPID" | paste -sd,)
}
stop_nchan() { kill -QUIT "$NGPID" 2>/dev/null; wait "$NGPID" 2>/dev/null || true; }

# run TARGET SUBSCRIBERS EVENTS RATE(0=burst)
run() {
  local target=$1 subs=$2 events=$3 rate=$4 pace
  if [ "$rate" = 0 ]; then pace="--burst --publishers 16"; else pace="--rate $rate --publishers 4"; fi
  if [ "$target" = freshet ]; then
    start_freshet
    "$GEN" fanout --target freshet --port $FPORT --server-pids "$FPID" --subscribers "$subs" --events "$events" $pace --settle 15 >> "$RESULTS"
    stop_freshet
  else
    start_nchan
    "$GEN" fanout --target nchan --port $NPORT --server-pids "$NPIDS" --subscribers "$subs" --events "$events" $pace --settle 15 >> "$RESULTS"
    stop_nchan
  fi
}

if [ "${ONLY:-}" = sync ]; then REPS=$REPS python3 bench/sync_bench.py "$BUILD"; exit; fi

# The Google Benchmark micro-benchmarks (per-event CPU, the replay read, the
# writer's transaction): medians of REPS repetitions. ONLY=micro: these only.
micro() {
  for b in core_bench replay_bench store_write_bench; do
    "$BUILD/bench/$b" --benchmark_repetitions="$REPS" --benchmark_report_aggregates_only=true
  done
}
if [ "${ONLY:-}" = micro ]; then micro; exit; fi

# The burst scenarios again through the second, independent load generator
# (bench/epoll_sse_bench: plain epoll, one thread), which also measures the
# server's CPU per delivery. ONLY=epoll: these only.
EGEN=$BUILD/bench/epoll_sse_bench
epoll_runs() {
  local out=$WORK/epoll.jsonl
  for rep in $(seq "$REPS"); do
    IFS=';' read -ra scenarios <<< "${EPOLL_SCENARIOS:-1000 2000;10000 300}"
    for scenario in "${scenarios[@]}"; do
      read -r subs events <<< "$scenario"
      start_freshet
      "$EGEN" --target freshet --port $FPORT --server-pids "$FPID" --subscribers "$subs" --events "$events" --publishers 16 >> "$out"
      stop_freshet
      start_nchan
      "$EGEN" --target nchan --port $NPORT --server-pids "$NPIDS" --subscribers "$subs" --events "$events" --publishers 16 >> "$out"
      stop_nchan
    done
  done
  python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
groups = {}
for r in rows:
    groups.setdefault((r["subscribers"], r["events"], r["target"]), []).append(r)
med = statistics.median
print("| scenario (epoll_sse_bench) | server | deliveries/s | loss | p50 ms | p99 ms | server CPU per delivery | RSS per connection |")
print("|---|---|---|---|---|---|---|---|")
for (subs, events, target), g in sorted(groups.items()):
    print(f"| {subs:,} subs, {events:,} events, burst | {target} | {med([r['deliveries_per_second'] for r in g]):,.0f} | "
          f"{max(r['loss'] for r in g)} | {med([r['latency_ms']['p50'] for r in g]):.1f} | "
          f"{med([r['latency_ms']['p99'] for r in g]):.1f} | {med([r['server_cpu_us_per_delivery'] for r in g]):.2f} µs | "
          f"{med([r['bytes_per_connection'] for r in g]) / 1024:.2f} KiB |")
PY
}
if [ "${ONLY:-}" = epoll ]; then epoll_runs; exit; fi

echo "machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, $(uname -r); results in $RESULTS" >&2
for rep in $(seq "$REPS"); do
  for target in ${TARGETS:-freshet nchan}; do
    # "subscribers events rate(0: burst)", separated by ';'
    IFS=';' read -ra scenarios <<< "${SCENARIOS:-1000 2000 0;10000 300 0;1000 1000 200;10000 200 20}"
    for scenario in "${scenarios[@]}"; do
      # shellcheck disable=SC2086
      run $target $scenario
    done
  done
  [ -n "${SCENARIOS:-}" ] && continue  # a partial run: the fan-out scenarios only
  # Idle memory near the file limit: 18,900 subscribers + publishers, under the
  # default max_connections (19,000) and the 20,000 files a process may hold.
  run freshet 18900 10 1
  start_freshet
  "$GEN" publish --target freshet --port $FPORT --publishers 64 --seconds 10 >> "$RESULTS"
  stop_freshet
done

python3 - "$RESULTS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(xs): return statistics.median(xs)
groups = {}
for r in rows:
    key = (r["mode"], r["target"], r.get("subscribers"), r.get("events"), r.get("rate"))
    groups.setdefault(key, []).append(r)
print("| scenario | server | deliveries/s | loss | p50 ms | p99 ms | max ms | RSS per connection |")
print("|---|---|---|---|---|---|---|---|")
for key in sorted(k for k in groups if k[0] == "fanout"):
    g = groups[key]
    _, target, subs, events, rate = key
    scen = f"{subs} subs, {events} events " + ("burst" if rate == 0 else f"at {rate:.0f}/s")
    print(f"| {scen} | {target} | {med([r['deliveries_per_second'] for r in g]):,.0f} | "
          f"{max(r['loss'] for r in g)} | {med([r['latency_ms']['p50'] for r in g]):.1f} | "
          f"{med([r['latency_ms']['p99'] for r in g]):.1f} | {med([r['latency_ms']['max'] for r in g]):.1f} | "
          f"{med([r['bytes_per_connection'] for r in g]) / 1024:.2f} KiB |")
for key in sorted(k for k in groups if k[0] == "publish"):
    g = groups[key]
    print(f"\ndurable publish, {g[0]['publishers']} publishers: median {med([r['acked_per_second'] for r in g]):,.0f} "
          f"acknowledged broadcasts/s over {len(g)} runs (failed: {sum(r['failed'] for r in g)})")
PY

epoll_runs
[ "${ONLY:-}" = hub ] || micro

# The sync engine: full syncs against the rate-limit floor, change-to-browser latency.
[ "${ONLY:-}" = hub ] || REPS=$REPS python3 bench/sync_bench.py "$BUILD"
