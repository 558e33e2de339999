#!/usr/bin/env bash
# User-space instructions per acknowledged broadcast, counted by callgrind:
# unlike CPU time, the count does not move with this VM's speed of the day,
# so it carries A/B comparisons of small changes on the publish path. Each
# binary serves under callgrind; counters are zeroed once it listens, then
# `fanout_bench publish --publishers 64` runs for SECONDS and the counts are
# dumped. Prints instructions per ack: the workers (the event loops), the
# store writer thread, and the whole process. (Kernel time is not counted:
# see bench/publish_ab.sh for CPU time.)
#   bench/publish_instructions.sh BIN [BIN ...]     (SECONDS=8 GEN=build/bench/fanout_bench)
set -euo pipefail
seconds=${SECONDS_OF_LOAD:-8} gen=${GEN:-build/bench/fanout_bench}
port=18969
source "$(dirname "$0")/ab_lib.sh"
for bin in "$@"; do
  rm -f "$work"/cg.*
  start_server "$bin" $port valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p"
  callgrind_control -z "$pid" > /dev/null 2>&1
  out=$("$gen" publish --target freshet --port $port --publishers 64 --seconds "$seconds")
  callgrind_control -d "$pid" > /dev/null 2>&1
  kill -TERM "$pid"; wait "$pid" || true
  acked=$(echo "$out" | grep -oE '"acked": *[0-9]+' | grep -oE '[0-9]+$')
  callgrind_annotate --inclusive=yes "$work/cg.$pid.1" 2>/dev/null | python3 -c "
import re, sys
acked = int(sys.argv[1]); workers = writer = total = 0
for line in sys.stdin:
    m = re.match(r'\s*([\d,]+) ', line)
    if not m: continue
    n = int(m.group(1).replace(',', ''))
    if 'PROGRAM TOTALS' in line: total = n
    elif 'scheduler::run(' in line and not workers: workers = n
    elif 'sqlite_store::run_writer()' in line and not writer: writer = n
print(f'{sys.argv[2]} acked={acked} instructions_per_ack: workers={workers / acked:,.0f} writer={writer / acked:,.0f} total={total / acked:,.0f}')
" "$acked" "$bin"
done
