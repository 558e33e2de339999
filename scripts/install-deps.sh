#!/usr/bin/env bash
# Installs, from Debian 12's packages only, whatever this machine lacks for one
# purpose: `run` (build and run Freshet), `test` (the default: the build, the
# tests and their peers), `bench`, `fuzz`, `package` (make deb).
# Idempotent and non-interactive: a machine that already has everything makes
# no apt call at all.
set -euo pipefail

purpose=${1:-test}

# What building and running need.
packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libssl-dev libsqlite3-dev
  libtomlplusplus-dev libcli11-dev libspdlog-dev libhiredis-dev
)

# What make deb uses: the man page from --help, the package tools, lintian.
packaging=(help2man dpkg-dev lintian systemd adduser man-db)

if [ "$purpose" = package ]; then
  packages+=("${packaging[@]}")
elif [ "$purpose" != run ]; then
  # The tests: GoogleTest, Python for the integration tests, the sqlite3 shell
  # some of them read the store with, redis-server for scale-out, and chromium,
  # the browser the dashboard tests drive through playwright-core.
  packages+=(googletest libgtest-dev libgmock-dev libbenchmark-dev python3 sqlite3 curl redis-server chromium)
  # test_jwt signs RS256 and ES256 tokens with the openssl command line.
  packages+=(openssl)
  # The package's test (make deb's tools, systemd-analyze) and promtool, from
  # Debian's prometheus, which lints /metrics.
  packages+=("${packaging[@]}" prometheus)
  # The peer tests run the official airtable npm client: Node.js and npm, from
  # Debian unless the machine already has them (these machines ship Node 20).
  command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
fi

case "$purpose" in
  run | test | package) ;;
  # nginx with nchan, the fan-out server Freshet is compared with.
  # valgrind: bench/publish_instructions.sh counts instructions with callgrind.
  bench) packages+=(nginx-light libnginx-mod-nchan valgrind) ;;
  # clang and its runtime, which has libFuzzer.
  fuzz) packages+=(clang-14 libclang-rt-14-dev) ;;
  *) echo "install-deps: unknown purpose '$purpose' (run, test, bench, fuzz, package)" >&2; exit 2 ;;
esac

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
