#!/usr/bin/env bash
# nginx's user-space instructions per proxied request, counted by callgrind exactly as
# bench/instructions.sh counts Portcullis's: nginx 1 worker, no master process, the peer
# harness's proxy config (upstream keep-alive, access log off), h2load --h1 with 8
# connections, (Ir2 - Ir1) / (N2 - N1) over two runs. Usage: bench/nginx-instructions.sh
# STRACE=1: system calls per request instead (strace -f -c), as bench/syscalls.sh does.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
start_backend
# The harness's own nginx target, with no master process (callgrind and strace follow the
# one worker) and the counting tool put in front of nginx.
perf_dir=${PERF_DIR:-$PWD/../shared/bench}
sed -e 's/master_process on;/master_process off;/' -e 's|^exec nginx|exec $NGINX_WRAP nginx|' \
  "$perf_dir/targets/nginx.sh" >"$work/nginx.sh"

count() { # requests -> total Ir
  local out="$work/cg.$1"
  local tool=(valgrind --tool=callgrind --callgrind-out-file="$out")
  [ "${STRACE:-0}" = 1 ] && tool=(strace -f -c -o "$out")
  NGINX_WRAP="${tool[*]}" bash "$work/nginx.sh" >/dev/null 2>&1 &
  local pid=$!
  wait_port
  h2load --h1 -n "$1" -c 8 "http://127.0.0.1:$PROXY_PORT/api/items" >"$work/h2load.txt"
  grep -q "$1 succeeded" "$work/h2load.txt" || { cat "$work/h2load.txt" >&2; exit 1; }
  if [ "${STRACE:-0}" = 1 ]; then
    pkill -QUIT -P $pid; wait $pid || true
    strace_counts "$out"
    return
  fi
  kill -QUIT $pid; wait $pid || true
  grep -E "^(summary|totals):" "$out" | head -1 | awk '{print $2}'
}

if [ "${STRACE:-0}" = 1 ]; then
  count "$n1" >"$work/a"; count "$n2" >"$work/b"
  syscall_table "$work/a" "$work/b" "nginx, per request"
  exit
fi
a=$(count "$n1")
b=$(count "$n2")
printf '| nginx %s, plain proxy | %s |\n' "$(nginx -v 2>&1 | sed 's|.*/||')" "$(( (b - a) / (n2 - n1) ))"
