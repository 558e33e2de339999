# What the A/B scripts share (sourced by bench/publish_ab.sh,
# bench/memory_ab.sh and bench/publish_instructions.sh): a work dir removed at
# exit, and a freshet server started on a fresh data dir.
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
# start_server BIN PORT [WRAPPER ARGS...]: serves with auth off on an empty
# data dir, under WRAPPER if given (valgrind ...); its pid in $pid once it answers.
start_server() {
  local bin=$1 port=$2
  shift 2
  rm -rf "$work/data"
  printf '[server]\nlisten = "127.0.0.1:%s"\ndata_dir = "%s/data"\nauth = "none"\n' "$port" "$work" > "$work/f.toml"
  "$@" "$bin" --log-level warn serve --config "$work/f.toml" > "$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return; sleep 0.1; done
  echo "freshet did not start" >&2
  cat "$work/log" >&2
  exit 1
}
