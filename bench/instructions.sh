#!/usr/bin/env bash
# Instructions per request of Portcullis configs, counted by callgrind: repeatable to a
# fraction of a percent whatever else the machine does (the shared harness's CPU µs/req
# spread 10-35 % between rounds here). Each config runs twice, with N1 and N2 requests
# (h2load --h1, 8 connections); (Ir2 - Ir1) / (N2 - N1) cancels start-up and shutdown.
# Usage: [BENCH_PATH=/path?query] bench/instructions.sh CONFIG.toml [CONFIG.toml ...]   (needs valgrind, h2load and the
# shared harness's backend: ../shared/bench/bench.sh builds it once.)
# PORTCULLIS_BIN: the binary (default target/release/portcullis). H2=1: HTTP/2 (h2c, prior
# knowledge, -m 10 streams per connection) instead of HTTP/1.1. KEEP=DIR: keep each callgrind
# output there (CONFIG-N.out) for `callgrind_annotate` (docs/performance.md shows how).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
proto=(--h1)
[ "${H2:-0}" = 1 ] && proto=(-m 10)
start_backend

count() { # config requests -> total Ir
  local out="$work/cg.$RANDOM"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" run --config "$1" --threads 1 \
    >/dev/null 2>&1 &
  local pid=$!
  wait_port
  h2load "${proto[@]}" -n "$2" -c 8 "http://127.0.0.1:$PROXY_PORT${BENCH_PATH:-/api/items}" >"$work/h2load.txt"
  grep -q "$2 succeeded" "$work/h2load.txt" || { cat "$work/h2load.txt" >&2; exit 1; }
  kill -TERM $pid; wait $pid || true
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP"; cp "$out" "$KEEP/$(basename "$1" .toml)-$2.out"; fi
  grep -E "^(summary|totals):" "$out" | head -1 | awk '{print $2}'
}

printf '| config | instructions per request |\n|---|---:|\n'
for cfg in "$@"; do
  a=$(count "$cfg" "$n1")
  b=$(count "$cfg" "$n2")
  printf '| %s | %s |\n' "$cfg" "$(( (b - a) / (n2 - n1) ))"
done
