# Shared by the long checks (scripts/soak, scripts/connections, scripts/chaos); sourced, not
# run. Builds the release gateway and the load generator, finds free loopback ports, starts
# and stops the processes it owns (by their PIDs), and samples a PID's RSS and descriptors.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# PROFILE=debug runs the scripts against debug builds (to try a script quickly; figures from a
# debug gateway mean little).
PROFILE=${PROFILE:-release}
BIN=$ROOT/target/$PROFILE/portcullis
LOADGEN=$ROOT/target/$PROFILE/examples/loadgen
OWNED_PIDS=()

# Debian packages a long check needs (command:package), installed when missing.
need_tools() {
  local missing=() cmd pkg
  for cp in "$@"; do
    cmd=${cp%%:*}; pkg=${cp##*:}
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get -o DPkg::Lock::Timeout=300 update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
      --no-install-recommends "${missing[@]}"
  fi
}

# The release gateway and load generator (skipped with SKIP_BUILD=1 when both exist).
build_release() {
  if [ "${SKIP_BUILD:-0}" = 1 ] && [ -x "$BIN" ] && [ -x "$LOADGEN" ]; then return; fi
  local flag=--release
  [ "$PROFILE" = debug ] && flag=""
  echo "== cargo build $flag (gateway and examples/loadgen)"
  (cd "$ROOT" && cargo build $flag --locked --bin portcullis --example loadgen)
}

# A free loopback TCP port.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Raises this shell's descriptor limits (children inherit them) as far as allowed.
raise_nofile() {
  ulimit -Hn "${1:-65536}" 2>/dev/null || true
  ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
  echo "open file limit: $(ulimit -Sn)"
}

# Remembers a PID this script started, for `stop_owned`.
own() { OWNED_PIDS+=("$1"); }

# Stops every process this script started (TERM, then KILL after 5 s), newest first.
stop_owned() {
  local i pid
  for ((i = ${#OWNED_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${OWNED_PIDS[$i]}
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  OWNED_PIDS=()
}

# Waits until `url` answers at all (any status), up to 30 s.
wait_http() {
  for _ in $(seq 300); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  echo "no answer from $1" >&2
  return 1
}

# RSS in KiB and open descriptors of a PID: "rss_kb,fds".
rss_fds() {
  local rss fds
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0)
  fds=$(find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  echo "${rss:-0},$fds"
}

# One gauge's value from a Prometheus text (0 when absent).
gauge() {
  awk -v n="$2" '$1 == n {print $2; found=1} END {if (!found) print 0}' "$1"
}
