#!/usr/bin/env bash
# The floor under every per-request figure: what one HTTP request over
# loopback costs a server on this machine. Freshet's GET /healthz against
# nginx answering `return 200` (2 workers, access log off: as cheap as an
# HTTP server gets), ROUNDS rounds alternated, `fanout_bench get` with 64
# keep-alive connections for 5 s; server CPU (user + system of every process,
# from /proc) per answered request. A durable publish is such a request plus
# a row and its share of an fsync, so it cannot cost less than this floor.
#   bench/http_floor.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build} rounds=${2:-3}
gen=$build/bench/fanout_bench bin=$build/src/freshet
work=$(mktemp -d /tmp/freshet-floor-XXXXXX)
fport=18951 nport=18952
trap 'kill $(jobs -p) 2>/dev/null || true; pkill -f "nginx -c $work" 2>/dev/null || true; rm -rf "$work"' EXIT
ticks=$(getconf CLK_TCK)
cpu_of() { local t=0 p; for p in ${1//,/ }; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }

measure() {  # LABEL PIDS PORT
  local c0 c1 out n
  c0=$(cpu_of "$2")
  out=$("$gen" get --port "$3" --path /healthz --connections 64 --seconds 5)
  c1=$(cpu_of "$2")
  n=$(echo "$out" | grep -oE '"ok":[0-9]+' | grep -oE '[0-9]+$')
  echo "$out" | grep -q '"other":0,"closed":0,' || { echo "$1: answers other than 200, or connections closed: $out" >&2; exit 1; }
  awk -v l="$1" -v n="$n" -v c=$((c1 - c0)) -v t="$ticks" \
    'BEGIN { printf "%s requests_per_second=%.0f server_cpu_s=%.2f cpu_us_per_request=%.1f\n", l, n / 5, c / t, (c / t) * 1e6 / n }'
}

freshet_round() {
  rm -rf "$work/data"
  printf '[server]\nlisten = "127.0.0.1:%s"\ndata_dir = "%s/data"\nauth = "none"\n' "$fport" "$work" > "$work/f.toml"
  "$bin" --log-level warn serve --config "$work/f.toml" > "$work/freshet.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$fport/healthz" >/dev/null && break; sleep 0.05; done
  measure freshet "$pid" "$fport"
  kill -TERM "$pid"; wait "$pid" || true
}

nginx_round() {
  mkdir -p "$work/nginx"
  cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100000000;  # never closes a connection mid-run (default 1,000)
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$nport;
    location = /healthz { return 200 "ok\n"; }
  }
}
CONF
  nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" > "$work/nginx/out.log" 2>&1 &
  local master=$!
  for _ in $(seq 100); do
    [ "$(pgrep -P "$master" | wc -l)" -ge 2 ] && curl -sf -o /dev/null "http://127.0.0.1:$nport/healthz" && break
    sleep 0.05
  done
  measure nginx "$master,$(pgrep -P "$master" | paste -sd,)" "$nport"
  kill -QUIT "$master" 2>/dev/null; wait "$master" 2>/dev/null || true
}

for _ in $(seq "$rounds"); do
  freshet_round
  nginx_round
done
