# What the Redis benchmarks share (sourced by bench/redis_publish.sh and
# bench/redis_fanout.sh): a work dir removed at exit, CPU time from /proc,
# stopping processes, starting a Freshet instance and a durable redis-server.
# The caller sets bin (the freshet binary) and redis_port first.
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
ticks=$(getconf CLK_TCK)
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
stop_pids() { kill -TERM "$@" 2>/dev/null || true; for p in "$@"; do while kill -0 "$p" 2>/dev/null; do sleep 0.05; done; done; }
start_freshet() {  # name port [store section]; its pid in $started
  mkdir -p "$work/$1"
  printf '[server]\nlisten = "127.0.0.1:%s"\ndata_dir = "%s/%s"\nauth = "none"\n%s' "$2" "$work" "$1" "${3:-}" \
    > "$work/$1/f.toml"
  FRESHET_REDIS_URL="redis://127.0.0.1:$redis_port/0" "$bin" --log-level warn serve --config "$work/$1/f.toml" \
    > "$work/$1/log" 2>&1 &
  started=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$2/healthz" >/dev/null && return; sleep 0.05; done
}
start_redis() {  # appendonly yes, appendfsync always; its pid in $rp
  mkdir -p "$work/redis"
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis" --appendonly yes --appendfsync always \
    --save '' --daemonize no > "$work/redis/log" 2>&1 &
  rp=$!
  for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done
}
