#!/usr/bin/env bash
# User and kernel CPU per request of proxies, apart: the harness reports their sum, and on
# this machine the kernel's share (loopback TCP) is ~70 % and drifts by 15-25 % between
# rounds, which hides what a change of ours does in user space. Each target runs pinned to
# CPU 1 with wrk and the harness's backend on CPU 0 (64 connections, 3 s warm-up, 10 s
# measured), rounds interleaved; utime and stime of the proxy's processes come from
# /proc/PID/stat. Prints each round and the medians.
# Usage: bench/cpu-split.sh 'name=command' ...   (ROUNDS=3; BENCH_PATH as bench/instructions.sh)
#   bench/cpu-split.sh "nginx=exec $PWD/../shared/bench/targets/nginx.sh" \
#     "portcullis=exec $PWD/target/release/portcullis run --config $PWD/bench/portcullis.toml --threads 1"
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export RUN_DIR=$work
path=${BENCH_PATH:-/api/items?access_token=$(cat bench/rs256.jwt)}
taskset -c 0 "$backend" >/dev/null 2>&1 &
pids+=("$!")
wait_port "$BACKEND_PORT"
tick=$(getconf CLK_TCK)

# The CPU ticks (user, system) of a process and its descendants.
ticks() {
  local u=0 s=0 p f
  for p in $(pstree -p "$1" | grep -o '([0-9]*)' | tr -d '()'); do
    [ -r "/proc/$p/stat" ] || continue
    read -r -a f <"/proc/$p/stat"
    u=$((u + f[13])) s=$((s + f[14]))
  done
  echo "$u $s"
}

one() { # name command -> "name user sys"
  taskset -c 1 bash -c "$2" >/dev/null 2>&1 &
  local pid=$!
  wait_port
  taskset -c 0 wrk -t1 -c64 -d3s "http://127.0.0.1:$PROXY_PORT$path" >/dev/null
  local u0 s0 u1 s1 out req
  read -r u0 s0 < <(ticks "$pid")
  out=$(taskset -c 0 wrk -t1 -c64 -d10s "http://127.0.0.1:$PROXY_PORT$path")
  read -r u1 s1 < <(ticks "$pid")
  req=$(awk '/requests in/ {print $1}' <<<"$out")
  pkill -TERM -P "$pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  python3 -c "print('$1', ($u1-$u0)/$tick*1e6/$req, ($s1-$s0)/$tick*1e6/$req)"
}

rows=()
for r in $(seq 1 "${ROUNDS:-3}"); do
  for t in "$@"; do
    row=$(one "${t%%=*}" "${t#*=}")
    printf 'round %s: %s\n' "$r" "$row" >&2
    rows+=("$row")
  done
done
printf '%s\n' "${rows[@]}" | python3 -c '
import sys, statistics
d = {}
for line in sys.stdin:
    n, u, s = line.split(); d.setdefault(n, []).append((float(u), float(s)))
print("| target | user µs/req (median) | kernel µs/req (median) | total |")
print("|---|---:|---:|---:|")
for n, v in d.items():
    u = statistics.median(x[0] for x in v); s = statistics.median(x[1] for x in v)
    print(f"| {n} | {u:.2f} | {s:.2f} | {u+s:.2f} |")
'
