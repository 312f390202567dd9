# Helpers shared by the benchmark scripts compare.sh and fanout.sh, sourced
# after they set ROOT and COMPARE.
# shellcheck shell=bash

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# Exits unless every tool named after the script's name is on PATH.
require_tools() {
  local script=$1 tool
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$script needs $tool" >&2; exit 2; }
  done
}

# The CPUs to pin to: the server on CPU 1 and the load generator on CPU 0,
# or both on CPU 0 on a one-CPU machine.
SERVER_CPU=1
CLIENT_CPU=0
if [ "$(nproc)" -lt 2 ]; then
  echo "warning: fewer than 2 CPUs; server and client share CPU 0" >&2
  SERVER_CPU=0
fi

# Whether Node's ws can run: node and npm on PATH, and ws installed in
# benches/compare/node (npm install, if it is not yet).
node_ws_ready() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    log "node/npm not found: skipping Node ws"; return 1
  fi
  if [ ! -d "$COMPARE/node/node_modules/ws" ]; then
    log "npm install ws"
    (cd "$COMPARE/node" && timeout 300 npm install --no-audit --no-fund >&2) \
      || { log "npm install failed: skipping Node ws"; return 1; }
  fi
}

# Raises the open-file limit towards $1 as far as the hard limit allows;
# the caller reads `ulimit -n` afterwards.
raise_open_files() {
  if [ "$(ulimit -n)" -lt "$1" ]; then
    ulimit -n "$1" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  fi
}

# Whether something listens on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Waits up to 5 s for port $1 to listen; otherwise prints server $2's log
# ($3) and exits.
wait_listening() {
  for _ in $(seq 100); do
    port_open "$1" && return 0
    sleep 0.05
  done
  echo "$2 did not start listening on $1; its log:" >&2
  cat "$3" >&2
  exit 1
}

# The value of field $1 in loadgen's RESULT line $2.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

# The servers in ACTIVE in round-robin order, rotated by round number $1.
rotated() {
  local r=$1 n=${#ACTIVE[@]} k
  for ((k = 0; k < n; k++)); do echo "${ACTIVE[$(((k + r) % n))]}"; done
}

# MODEL (the CPU), COMMIT and DIRTY (whether tracked files differ from it)
# for a report's header.
describe_machine() {
  MODEL=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
  COMMIT=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
  DIRTY=$(cd "$ROOT" && git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (uncommitted changes)" || true)
  export MODEL COMMIT DIRTY
}
