#!/usr/bin/env bash
# Regenerates link/symbol-order.txt: the functions of the release binary that start-up and
# requests run (plain route over HTTP/1.1 and HTTP/2, the realistic route, a cache hit),
# hottest first, as callgrind saw them. build.rs hands the file to the linker (rust-lld's
# --symbol-ordering-file) for release builds, so that code is laid out together: the pages a
# running gateway touches, and with them its resident memory, shrink (docs/performance.md).
# Run it after dependency or toolchain upgrades (symbol names carry a hash that changes with
# them; names no longer found are skipped, so a stale file costs memory, never correctness).
# Usage: bench/symbol-order.sh   (needs valgrind, h2load and the shared harness's backend, as
# bench/instructions.sh; builds with the current file, profiles, then rebuilds.)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
start_backend
jwt="/api/items?access_token=$(cat bench/rs256.jwt)"
profile() { # name config path h2load-args...
  local name=$1 cfg=$2 path=$3
  shift 3
  valgrind --tool=callgrind --demangle=no --dump-instr=no \
    --callgrind-out-file="$work/$name.out" "$bin" run --config "$cfg" --threads 1 >/dev/null 2>&1 &
  local pid=$!
  wait_port
  h2load "$@" -n 1000 -c 4 "http://127.0.0.1:$PROXY_PORT$path" >"$work/h2load.txt"
  grep -q "1000 succeeded" "$work/h2load.txt" || { cat "$work/h2load.txt" >&2; exit 1; }
  kill -TERM $pid; wait $pid || true
}
profile plain bench/portcullis.toml /api/items --h1
profile h2 bench/portcullis.toml /api/items -m 10
profile realistic bench/portcullis-realistic.toml "$jwt" --h1
profile cached bench/portcullis-cached.toml /api/items --h1
python3 bench/symbol-order.py "$(basename "$bin")" "$work"/*.out >link/symbol-order.txt
echo "link/symbol-order.txt: $(wc -l <link/symbol-order.txt) functions; rebuild with cargo build --release"
