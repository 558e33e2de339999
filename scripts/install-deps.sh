#!/usr/bin/env bash
# Installs, from Debian 12's packages only, whatever the build, the tests and the
# benchmarks need and this machine lacks. Idempotent and non-interactive: a
# machine that already has everything makes no apt call at all.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libssl-dev libsqlite3-dev sqlite3
  libtomlplusplus-dev libcli11-dev libspdlog-dev libhiredis-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  python3 curl redis-server
  chromium
)

# chromium (listed above): the browser the dashboard tests drive through playwright-core.
# The peer tests run the official airtable npm client: Node.js and npm, from
# Debian unless the machine already has them (these machines ship Node 20).
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

# `install-deps.sh bench` adds what only the benchmarks need: nginx with nchan,
# the fan-out server Freshet is compared with.
if [ "${1:-}" = bench ]; then
  packages+=(nginx-light libnginx-mod-nchan)
fi

# `install-deps.sh fuzz` adds clang and its runtime, which has libFuzzer.
if [ "${1:-}" = fuzz ]; then
  packages+=(clang-14 libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
