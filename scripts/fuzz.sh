#!/usr/bin/env bash
# Runs every libFuzzer target in fuzz/ for SECONDS each (default 300) over its
# seed corpus, and prints one line per target: executions, coverage, and
# whether it found anything. Inputs it learns stay in BUILD/corpus-work/; a
# crash is saved in BUILD/artifacts/NAME/ and fails the run. Fix the bug, then
# add the input to fuzz/corpus/NAME/ so that every later run replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
build=${FUZZ_BUILD:-build-fuzz}
targets=(http_request ws_frames webhook_body connector_pages sim_filters config_toml rule_text)
max_len() {
  case $1 in ws_frames) echo 70000 ;; http_request) echo 20000 ;; *) echo 8192 ;; esac
}
status=0
summary=()
for t in "${targets[@]}"; do
  work="$build/corpus-work/$t"
  art="$build/artifacts/$t"
  mkdir -p "$work" "$art"
  log="$build/fuzz-$t.log"
  set +e
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1 \
    "$build/fuzz/fuzz_$t" "$work" "fuzz/corpus/$t" -max_total_time="$seconds" -max_len="$(max_len "$t")" \
    -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -artifact_prefix="$art/" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || echo 0)
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || echo 0)
  if [ "$rc" -eq 0 ]; then verdict=clean; else verdict="FOUND (exit $rc; see $log and $art/)"; status=1; fi
  line="fuzz: $t seconds=$seconds execs=$execs cov=$cov ft=$ft $verdict"
  echo "$line"
  summary+=("$line")
  if [ "$rc" -ne 0 ]; then tail -n 40 "$log"; fi
done
passed=0 failed=0
for l in "${summary[@]}"; do case $l in *clean) passed=$((passed + 1)) ;; *) failed=$((failed + 1)) ;; esac; done
echo "fuzz: $passed passed, $failed failed"
exit $status
