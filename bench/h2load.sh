#!/usr/bin/env bash
# HTTP/2 benchmark: h2load (h2c, prior knowledge) through Portcullis and through nginx with
# HTTP/2 on, in front of the peer harness's backend, in interleaved rounds. Reports the
# proxy's CPU time per request (utime + stime from /proc/PID/stat of the proxy's processes,
# divided by the requests h2load saw succeed) and h2load's req/s.
#
# Usage: bench/h2load.sh [PORTCULLIS_BINARY]     (default: target/release/portcullis)
# Env:   ROUNDS=5 N=200000 C=8 M=10 WARMUP=20000
#        BACKEND_PORT=18280 PORTCULLIS_PORT=18281 NGINX_PORT=18282
#        PORTCULLIS_CONFIG (default bench/portcullis-h2.toml)
#        BENCH_BACKEND_BIN (default ~/.cache/peer-bench/backend-target/release/bench-backend,
#        built by ../shared/bench/bench.sh)
# Pinning as in the peer harness: proxies on CPU 1, backend and h2load on CPU 0.
# Stops only the processes it started, by PID.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${1:-$here/../target/release/portcullis}"
backend_bin="${BENCH_BACKEND_BIN:-$HOME/.cache/peer-bench/backend-target/release/bench-backend}"
ROUNDS="${ROUNDS:-5}" N="${N:-200000}" C="${C:-8}" M="${M:-10}" WARMUP="${WARMUP:-20000}"
export BACKEND_PORT="${BACKEND_PORT:-18280}"
PORTCULLIS_PORT="${PORTCULLIS_PORT:-18281}" NGINX_PORT="${NGINX_PORT:-18282}"
for b in h2load nginx taskset; do
  command -v "$b" >/dev/null || { echo "missing $b (apt-get install nghttp2-client nginx util-linux)" >&2; exit 2; }
done
[ -x "$bin" ] || { echo "no portcullis binary at $bin (cargo build --release)" >&2; exit 2; }
[ -x "$backend_bin" ] || { echo "no backend at $backend_bin (run ../shared/bench/bench.sh once)" >&2; exit 2; }
tick="$(getconf CLK_TCK)"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "port $1 never opened" >&2; exit 1
}

# Backend (CPU 0).
taskset -c 0 "$backend_bin" >"$work/backend.log" 2>&1 &
pids+=($!)
wait_port "$BACKEND_PORT"

# nginx 1.22: `listen ... http2` on a plaintext port is HTTP/2 with prior knowledge (the
# `http2 on;` directive only exists from 1.25.1). One worker, upstream keep-alive.
mkdir -p "$work/nginx/tmp"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process on;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    client_body_temp_path $work/nginx/tmp/body;
    proxy_temp_path $work/nginx/tmp/proxy;
    fastcgi_temp_path $work/nginx/tmp/fcgi;
    uwsgi_temp_path $work/nginx/tmp/uwsgi;
    scgi_temp_path $work/nginx/tmp/scgi;
    keepalive_timeout 120s;
    keepalive_requests 1000000;
    http2_max_concurrent_streams 100;
    upstream backend {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 128;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT http2;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$remote_addr;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
    }
}
CONF
taskset -c 1 nginx -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
pids+=("$nginx_pid")
wait_port "$NGINX_PORT"

# Portcullis (CPU 1), one worker thread.
PROXY_PORT="$PORTCULLIS_PORT" taskset -c 1 "$bin" --log-level warn run \
  --config "${PORTCULLIS_CONFIG:-$here/portcullis-h2.toml}" >"$work/portcullis.log" 2>&1 &
portcullis_pid=$!
pids+=("$portcullis_pid")
wait_port "$PORTCULLIS_PORT"

# CPU ticks (utime + stime) of a process and its children (nginx: master and worker).
ticks() {
  local total=0 p f
  for p in "$1" $(pgrep -P "$1" || true); do
    f="$(cut -d')' -f2- "/proc/$p/stat" 2>/dev/null)" || continue
    total=$((total + $(echo "$f" | awk '{print $12 + $13}')))
  done
  echo "$total"
}

# One h2load run (CPU 0); prints "succeeded rps".
load() {
  local out
  out="$(taskset -c 0 h2load -c "$C" -m "$M" -n "$2" "http://127.0.0.1:$1/api/items" 2>&1)"
  echo "$out" >>"$work/h2load.log"
  local ok rps
  ok="$(echo "$out" | awk '/^requests:/ {print $8}')"
  rps="$(echo "$out" | awk '/^finished in/ {print $4}')"
  proto="$(echo "$out" | awk '/Application protocol:/ {print $3}')"
  [ "$proto" = "h2c" ] || { echo "port $1 did not speak h2c: $out" >&2; exit 1; }
  echo "$ok $rps"
}

declare -A port=([portcullis]="$PORTCULLIS_PORT" [nginx]="$NGINX_PORT")
declare -A pid=([portcullis]="$portcullis_pid" [nginx]="$nginx_pid")
for t in portcullis nginx; do
  read -r ok _ < <(load "${port[$t]}" "$WARMUP")
  [ "$ok" = "$WARMUP" ] || { echo "$t: only $ok of $WARMUP requests succeeded" >&2; exit 1; }
done

echo "h2load -c $C -m $M -n $N (h2c), $ROUNDS interleaved rounds; proxy on CPU 1, backend + h2load on CPU 0"
echo "| round | target | succeeded | req/s | proxy CPU µs/req |"
echo "|---:|---|---:|---:|---:|"
results="$work/results"
for r in $(seq "$ROUNDS"); do
  order="portcullis nginx"
  [ $((r % 2)) -eq 0 ] && order="nginx portcullis"
  for t in $order; do
    t0="$(ticks "${pid[$t]}")"
    read -r ok rps < <(load "${port[$t]}" "$N")
    t1="$(ticks "${pid[$t]}")"
    us="$(awk -v d=$((t1 - t0)) -v tk="$tick" -v n="$ok" 'BEGIN {printf "%.2f", d * 1e6 / tk / n}')"
    echo "| $r | $t | $ok | $rps | $us |"
    echo "$r $t $us $rps" >>"$results"
  done
done
echo
awk '
  { us[$2, $1] = $3; rps[$2, $1] = $4; rounds[$1] = 1 }
  function median(a, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    n = 0; for (r in rounds) n++
    split("portcullis nginx", ts, " ")
    print "| target | proxy CPU µs/req (median) | req/s (median) |"
    print "|---|---:|---:|"
    for (k = 1; k <= 2; k++) {
      t = ts[k]; for (r = 1; r <= n; r++) { a[r] = us[t, r]; b[r] = rps[t, r] }
      printf "| %s | %.2f | %.0f |\n", t, median(a, n), median(b, n)
    }
    for (r = 1; r <= n; r++) c[r] = us["portcullis", r] / us["nginx", r]
    printf "\nPortcullis / nginx CPU per request: %.3f (median of per-round ratios)\n", median(c, n)
  }' "$results"
