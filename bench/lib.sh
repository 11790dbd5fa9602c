# Shared by the counting scripts (instructions.sh, syscalls.sh, backend-cost.sh,
# nginx-instructions.sh): where the backend and the binary are, the ports, N1/N2, a scratch
# folder removed at exit, and `wait_port`. Sourced from the repository's root.
backend="${BENCH_BACKEND_BIN:-$HOME/.cache/peer-bench/backend-target/release/bench-backend}"
bin=${PORTCULLIS_BIN:-target/release/portcullis}
n1=${N1:-2000}
n2=${N2:-12000}
export BACKEND_PORT=${BACKEND_PORT:-18480} PROXY_PORT=${PROXY_PORT:-18481}
work=$(mktemp -d)
export RUN_DIR=${RUN_DIR:-$work}
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

# Starts the harness's backend (not traced) and waits for its port.
start_backend() {
  "$backend" >/dev/null 2>&1 &
  pids+=("$!")
  wait_port "$BACKEND_PORT"
}

# Waits (30 s at most) until 127.0.0.1:PORT (default $PROXY_PORT) accepts a connection.
wait_port() {
  local port=${1:-$PROXY_PORT}
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $port" >&2; return 1
}

# `strace -c` output file -> "syscall calls" lines, sorted (for syscall_table).
strace_counts() {
  awk '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { print $NF, $4 }' "$1" | sort
}

# Two strace_counts outputs (N1 and N2 requests) -> a markdown table of calls per request.
syscall_table() {
  printf '| system call | %s |\n|---|---:|\n' "$3"
  join -a2 -e0 -o 0,1.2,2.2 "$1" "$2" | awk -v d=$((n2 - n1)) '
    { per = ($3 - $2) / d; if (per >= 0.01) { printf "| %s | %.2f |\n", $1, per; t += per } }
    END { printf "| **total** | **%.2f** |\n", t }'
}
