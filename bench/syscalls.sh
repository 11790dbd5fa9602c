#!/usr/bin/env bash
# System calls per request of one Portcullis config, counted by `strace -f -c` over two runs
# of N1 and N2 requests (h2load --h1, 8 connections; (count2 - count1) / (N2 - N1) per call, so
# start-up and shutdown cancel). Exact counts, whatever else the machine does.
# Usage: [BENCH_PATH=/path?query] bench/syscalls.sh CONFIG.toml   (needs strace, h2load and the
# harness's backend, as bench/instructions.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
start_backend

count() { # config requests -> "name calls" lines
  local out="$work/st.$2"
  strace -f -c -o "$out" "$bin" run --config "$1" --threads 1 >/dev/null 2>&1 &
  local pid=$!
  wait_port
  h2load --h1 -n "$2" -c 8 "http://127.0.0.1:$PROXY_PORT${BENCH_PATH:-/api/items}" >"$work/h2load.txt"
  grep -q "$2 succeeded" "$work/h2load.txt" || { cat "$work/h2load.txt" >&2; exit 1; }
  # The traced gateway (strace's child) is stopped; strace then writes its table and ends.
  pkill -TERM -P $pid; wait $pid || true
  strace_counts "$out"
}

count "$1" "$n1" >"$work/a"
count "$1" "$n2" >"$work/b"
syscall_table "$work/a" "$work/b" "per request"
