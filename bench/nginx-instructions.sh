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
mkdir -p "$work/tmp"
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process off;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    client_body_temp_path $work/tmp/body;
    proxy_temp_path $work/tmp/proxy;
    fastcgi_temp_path $work/tmp/fcgi;
    uwsgi_temp_path $work/tmp/uwsgi;
    scgi_temp_path $work/tmp/scgi;
    keepalive_timeout 120s;
    keepalive_requests 1000000;
    upstream backend {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 128;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$PROXY_PORT;
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


count() { # requests -> total Ir
  local out="$work/cg.$1"
  local tool=(valgrind --tool=callgrind --callgrind-out-file="$out")
  [ "${STRACE:-0}" = 1 ] && tool=(strace -f -c -o "$out")
  "${tool[@]}" nginx -p "$work" -e "$work/error.log" -c "$work/nginx.conf" >/dev/null 2>&1 &
  local pid=$!
  wait_port
  h2load --h1 -n "$1" -c 8 "http://127.0.0.1:$PROXY_PORT/api/items" >"$work/h2load.txt"
  grep -q "$1 succeeded" "$work/h2load.txt" || { cat "$work/h2load.txt" >&2; exit 1; }
  if [ "${STRACE:-0}" = 1 ]; then
    pkill -QUIT -P $pid; wait $pid || true
    awk '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { print $NF, $4 }' "$out" | sort
    return
  fi
  kill -QUIT $pid; wait $pid || true
  grep -E "^(summary|totals):" "$out" | head -1 | awk '{print $2}'
}

if [ "${STRACE:-0}" = 1 ]; then
  count "$n1" >"$work/a"; count "$n2" >"$work/b"
  printf '| system call | nginx, per request |\n|---|---:|\n'
  join -a2 -e0 -o 0,1.2,2.2 "$work/a" "$work/b" | awk -v d=$((n2 - n1)) '
    { per = ($3 - $2) / d; if (per >= 0.01) { printf "| %s | %.2f |\n", $1, per; t += per } }
    END { printf "| **total** | **%.2f** |\n", t }'
  exit
fi
a=$(count "$n1")
b=$(count "$n2")
printf '| nginx %s, plain proxy | %s |\n' "$(nginx -v 2>&1 | sed 's|.*/||')" "$(( (b - a) / (n2 - n1) ))"
