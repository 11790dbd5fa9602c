#!/usr/bin/env bash
# Where the heap of idle keep-alive connections goes: Portcullis under valgrind's massif, a
# warm-up, then the shared harness's idle phase (`_hold_conns`: N connections, each after one
# request, held) and a detailed massif snapshot taken while they are held. Prints ms_print's
# tree (threshold THRESHOLD %, default 0.5); divide a line's bytes by N for bytes per
# connection. Under valgrind requests are slow, so every connection gets its own upstream
# connection (with the harness at full speed about 250 of 3,000 do).
# Usage: [N=1000] [THRESHOLD=0.5] bench/heap.sh CONFIG.toml   (needs valgrind, h2load and the
# shared harness's backend, as bench/instructions.sh.)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
start_backend
harness=$(cd ../shared/bench && pwd)
valgrind --tool=massif --vgdb=yes --massif-out-file="$work/massif.out" \
  "$bin" run --config "$1" --threads 1 >/dev/null 2>&1 &
pid=$!
pids+=("$pid")
wait_port
h2load --h1 -n 500 -c 8 "http://127.0.0.1:$PROXY_PORT${BENCH_PATH:-/api/items}" >/dev/null
python3 - "$harness" "$PROXY_PORT" "${BENCH_PATH:-/api/items}" "${N:-1000}" "$pid" "$work/held" <<'PY'
import asyncio, subprocess, sys
sys.path.insert(0, sys.argv[1])
import bench
port, path, n, pid, out = int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
def measure(ok, failed):
    subprocess.run(["vgdb", f"--pid={pid}", "detailed_snapshot", out], check=True,
                   stdout=subprocess.DEVNULL)
    return (ok, failed)
ok, failed = asyncio.run(asyncio.wait_for(bench._hold_conns(port, path, n, 250, 2.0, measure), 600))
assert failed == 0, (ok, failed)
PY
ms_print --threshold="${THRESHOLD:-0.5}" "$work/held" | sed -n '/^ *n *time/,$p' | grep -v '^ *$'
