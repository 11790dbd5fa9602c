#!/usr/bin/env bash
# What the headers Portcullis adds cost the BACKEND: the harness's hyper backend runs under
# callgrind, Portcullis (release, not under valgrind) in front of it with each config, and the
# backend's instructions per request are printed ((Ir2 - Ir1) / (N2 - N1) over two runs of N1
# and N2 requests, as bench/instructions.sh does for the proxy). "direct" is h2load straight
# to the backend: the request as the client sent it.
# Usage: bench/backend-cost.sh [CONFIG.toml ...]   (default: the upstream_headers variants)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

count() { # config-or-direct requests -> the backend's total Ir
  local out="$work/cg.$RANDOM" port=$PROXY_PORT proxy=""
  valgrind --tool=callgrind --callgrind-out-file="$out" "$backend" >/dev/null 2>&1 &
  local bpid=$!
  wait_port "$BACKEND_PORT"
  if [ "$1" = direct ]; then
    port=$BACKEND_PORT
  else
    "$bin" run --config "$1" --threads 1 >/dev/null 2>&1 &
    proxy=$!; pids+=("$proxy")
    wait_port "$PROXY_PORT"
  fi
  h2load --h1 -n "$2" -c 8 "http://127.0.0.1:$port/api/items" >"$work/h2load.txt"
  grep -q "$2 succeeded" "$work/h2load.txt" || { cat "$work/h2load.txt" >&2; exit 1; }
  [ -n "$proxy" ] && { kill -TERM "$proxy"; wait "$proxy" || true; }
  kill -TERM $bpid; wait $bpid || true
  grep -E "^(summary|totals):" "$out" | head -1 | awk '{print $2}'
}

variant() { # name key=value... -> a config file: portcullis.toml with those upstream_headers
  local f="$work/$1.toml"
  sed "s|keys/|$PWD/bench/keys/|" bench/portcullis.toml >"$f"
  shift
  if [ $# -gt 0 ]; then printf '[services.upstream_headers]\n' >>"$f"; printf '%s\n' "$@" >>"$f"; fi
  echo "$f"
}

if [ $# -eq 0 ]; then
  set -- direct "$(variant default)" "$(variant no-via 'via = false')" \
    "$(variant no-request-id 'request_id = false')" \
    "$(variant no-forwarded-host 'forwarded_host = false')" \
    "$(variant trace-sampled-only 'trace_context = "sampled"')" \
    "$(variant no-trace-context 'trace_context = "off"')" \
    "$(variant all-optional-off 'via = false' 'request_id = false' 'forwarded_host = false' 'trace_context = "off"')"
fi
printf '| what the backend receives | backend instructions per request |\n|---|---:|\n'
for cfg in "$@"; do
  a=$(count "$cfg" "$n1")
  b=$(count "$cfg" "$n2")
  printf '| %s | %s |\n' "$(basename "$cfg" .toml)" "$(( (b - a) / (n2 - n1) ))"
done
