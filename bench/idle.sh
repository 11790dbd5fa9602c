#!/usr/bin/env bash
# Memory of idle keep-alive connections, measured as the shared harness measures it (its own
# `idle_conn_phase`: N connections, each after one request, held; RSS after minus RSS
# before, per connection), without the rest of the harness: one config, one thread, a
# minute. Prints RSS at rest, RSS with the connections held, and KiB per connection.
# Usage: [N=3000] [PORTCULLIS_BIN=...] bench/idle.sh CONFIG.toml [CONFIG.toml ...]
# (needs the shared harness's backend, as bench/instructions.sh.)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
start_backend
harness=$(cd ../shared/bench && pwd)
printf '| config | RSS at rest (MiB) | RSS, %s idle connections (MiB) | KiB per idle connection |\n' "${N:-3000}"
printf '|---|---:|---:|---:|\n'
for cfg in "$@"; do
  "$bin" run --config "$cfg" --threads 1 >/dev/null 2>&1 &
  pid=$!
  wait_port
  # Warm-up as the harness's load phase would leave it: pools, tables, allocator arenas.
  h2load --h1 -n 2000 -c 8 "http://127.0.0.1:$PROXY_PORT${BENCH_PATH:-/api/items}" >/dev/null
  sleep 1
  python3 - "$harness" "$PROXY_PORT" "${BENCH_PATH:-/api/items}" "${N:-3000}" "$pid" "$cfg" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import bench
port, path, n, pid, cfg = int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
r = bench.idle_conn_phase(port, path, n, lambda: [pid])
assert r["conns_failed"] == 0, r
print(f"| {cfg} | {r['rss_before_kb'] / 1024:.1f} | {r['rss_after_kb'] / 1024:.1f} | {r['kb_per_conn']:.2f} |")
EOF
  kill -TERM "$pid"; wait "$pid" || true
done
