#!/usr/bin/env bash
# Side-by-side comparison of wsgate's echo server with its peers:
# fastwebsockets (tokio + hyper), tokio-tungstenite, async-tungstenite on
# async-std, and Node's `ws` when npm is available.
#
#   benches/compare.sh            # full run: 3 rounds, 3 s per cell, 10 000 idle connections (~15 min)
#   benches/compare.sh --quick    # 1 round, 1 s per cell, 2 000 idle connections (~3 min)
#
# Options: --rounds N, --duration SECS, --idle-connections N, --window W,
#          --sizes "16 1024 ..." (message sizes), --conns "1 64" (connection
#          counts), --servers "wsgate fastwebsockets ...", --out FILE (Markdown report),
#          --no-build, --baseline BINARY (an earlier build of wsgate's echo
#          example, shown as the column "baseline": for A/B of a change).
#
# Servers (--servers; all of them by default): wsgate, wsgate-smol and
# wsgate-tokio are examples/echo.rs built for each of wsgate's runtimes
# (the default features: async-std; --no-default-features --features
# smol,rustls,ring,deflate; and the same with tokio, whose sockets are
# registered with tokio's own reactor); fastwebsockets, tokio-tungstenite,
# async-tungstenite and node-ws are the peers. wsgate against itself on
# three runtimes tells what wsgate costs from what its runtime costs.
#
# Method
# - Every server is pinned to CPU 1 and the load generator
#   (examples/loadgen.rs) to CPU 0 with taskset; everything is on loopback.
# - The metric is the server's CPU time (utime + stime from /proc/PID/stat,
#   all threads) per echoed message / per handshake, read by the load
#   generator right before and after the measured window. It does not
#   depend on whether the client or the server was the bottleneck.
# - Within each cell the servers run one after another in an order rotated
#   every round, so slow drift (thermal, noisy neighbours) hits all alike;
#   the table shows the median over rounds and wsgate's cost divided by
#   each peer's (below 1.0× means wsgate is cheaper).
# - Idle memory: a fresh server process per measurement; VmRSS growth from
#   /proc/PID/status divided by the number of open connections.
# - Every echoed byte is verified by the load generator; a mismatch fails
#   the run.
#
# Peers are built from benches/compare/ (a separate Cargo project with its
# own target directory), so they never enter wsgate's dependency tree.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
COMPARE="$ROOT/benches/compare"
ROUNDS=3
DURATION=3
WARMUP=0.5
IDLE_CONNECTIONS=10000
HS_CONCURRENCY=16
HS_DURATION=3
WINDOW=1
SIZES="16 1024 65536 1048576"
CONNS="1 64"
SERVERS="wsgate wsgate-smol wsgate-tokio fastwebsockets tokio-tungstenite async-tungstenite node-ws"
OUT=""
BASELINE=""
BUILD=1
BASE_PORT=19300

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) ROUNDS=1; DURATION=1; WARMUP=0.3; HS_DURATION=1; IDLE_CONNECTIONS=2000 ;;
    --rounds) ROUNDS=$2; shift ;;
    --duration) DURATION=$2; HS_DURATION=$2; shift ;;
    --idle-connections) IDLE_CONNECTIONS=$2; shift ;;
    --window) WINDOW=$2; shift ;;
    --servers) SERVERS=$2; shift ;;
    --sizes) SIZES=$2; shift ;;
    --conns) CONNS=$2; shift ;;
    --out) OUT=$2; shift ;;
    --no-build) BUILD=0 ;;
    --baseline) BASELINE=$2; shift ;;
    -h|--help) sed -n '2,40p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

# shellcheck source=benches/common.sh
source "$ROOT/benches/common.sh"
require_tools compare.sh taskset python3 cargo

# Hard bound on the whole run, whatever happens.
SCRIPT_DEADLINE=$(( $(date +%s) + 40 * 60 ))

WORK=$(mktemp -d /tmp/wsgate-compare.XXXXXX)
RESULTS="$WORK/results.tsv"
: > "$RESULTS"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# ---------------------------------------------------------------- build
# shellcheck source=benches/servers.sh
source "$ROOT/benches/servers.sh"
if [ "$BUILD" = 1 ]; then
  log "building wsgate's echo example for async-std, smol and tokio, and loadgen"
  build_wsgate_echo
  log "building the peers (benches/compare)"
  (cd "$COMPARE" && cargo build --release) >&2
fi
LOADGEN="$ROOT/target/release/examples/loadgen"
if [ -n "$BASELINE" ]; then
  CMD[baseline]=$BASELINE
  SERVERS="$SERVERS baseline"
fi

ACTIVE=()
for s in $SERVERS; do
  if [ "$s" = node-ws ]; then
    node_ws_ready || continue
  elif [ -z "${CMD[$s]:-}" ]; then
    echo "unknown server $s" >&2; exit 2
  elif [ ! -x "${CMD[$s]}" ]; then
    echo "${CMD[$s]} is missing (run without --no-build)" >&2; exit 2
  fi
  ACTIVE+=("$s")
done
[ -x "$LOADGEN" ] || { echo "$LOADGEN is missing" >&2; exit 2; }

# Open files: the idle test needs one per connection on each side.
NEED=$((IDLE_CONNECTIONS + 1024))
raise_open_files "$NEED"
if [ "$(ulimit -n)" -lt "$NEED" ]; then
  IDLE_CONNECTIONS=$(( $(ulimit -n) - 1024 ))
  log "open-file limit $(ulimit -n): idle test reduced to $IDLE_CONNECTIONS connections"
fi

# ---------------------------------------------------------------- servers
declare -A PORT PID
i=0
for s in "${ACTIVE[@]}"; do PORT[$s]=$((BASE_PORT + i)); i=$((i + 1)); done

start_server() {
  local s=$1 port=${PORT[$1]}
  if port_open "$port"; then
    echo "port $port is already in use; is another comparison running?" >&2; exit 1
  fi
  # shellcheck disable=SC2086
  taskset -c "$SERVER_CPU" ${CMD[$s]} --addr "127.0.0.1:$port" >"$WORK/$s.log" 2>&1 &
  PID[$s]=$!
  PIDS+=("$!")
  wait_listening "$port" "$s" "$WORK/$s.log"
}

stop_server() {
  local s=$1
  kill "${PID[$s]}" 2>/dev/null || true
  wait "${PID[$s]}" 2>/dev/null || true
  PID[$s]=""
}

ensure_running() {
  local s=$1
  if [ -z "${PID[$s]:-}" ] || ! kill -0 "${PID[$s]}" 2>/dev/null; then
    start_server "$s"
  fi
}

# Runs the load generator pinned to the client CPU; prints its RESULT line.
loadgen() {
  local s=$1; shift
  if [ "$(date +%s)" -gt "$SCRIPT_DEADLINE" ]; then
    echo "compare.sh: over its 40-minute bound; stopping" >&2; exit 1
  fi
  local out
  if ! out=$(timeout 300 taskset -c "$CLIENT_CPU" "$LOADGEN" \
      --url "ws://127.0.0.1:${PORT[$s]}/" "$@" --pid "${PID[$s]}" 2>"$WORK/loadgen.err"); then
    echo "loadgen against $s failed: $*" >&2
    cat "$WORK/loadgen.err" >&2
    echo "$out" >&2
    exit 1
  fi
  grep '^RESULT ' <<<"$out"
}

# ---------------------------------------------------------------- runs
log "servers: ${ACTIVE[*]}; rounds $ROUNDS; ${DURATION}s per echo cell; window $WINDOW"
for s in "${ACTIVE[@]}"; do start_server "$s"; done

for size in $SIZES; do
  for conns in $CONNS; do
    for ((r = 0; r < ROUNDS; r++)); do
      for s in $(rotated "$r"); do
        ensure_running "$s"
        res=$(loadgen "$s" echo --connections "$conns" --size "$size" --binary \
          --window "$WINDOW" --duration "$DURATION" --warmup "$WARMUP")
        cpu=$(field server_cpu_us_per_msg "$res")
        rate=$(field msgs_per_s "$res")
        if [ "$(field messages "$res")" = 0 ]; then
          # Seen with --quick on a busy machine at 1 MiB x 64: the cell ended
          # before any echo was counted after the warm-up, and its 0 µs
          # would have counted as a measurement.
          log "echo ${size}B x${conns} $s: no message completed in the window; sample dropped"
          continue
        fi
        printf 'echo\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$conns" "$s" "$r" "$cpu" "$rate" >>"$RESULTS"
        log "echo ${size}B x${conns} $s: ${cpu} µs/msg, ${rate} msg/s"
      done
    done
  done
done

for ((r = 0; r < ROUNDS; r++)); do
  for s in $(rotated "$r"); do
    ensure_running "$s"
    res=$(loadgen "$s" handshake --connections "$HS_CONCURRENCY" --duration "$HS_DURATION")
    cpu=$(field server_cpu_us_per_handshake "$res")
    rate=$(field per_s "$res")
    printf 'handshake\t0\t%s\t%s\t%s\t%s\t%s\n' "$HS_CONCURRENCY" "$s" "$r" "$cpu" "$rate" >>"$RESULTS"
    log "handshake $s: ${cpu} µs/handshake, ${rate}/s"
  done
done

for s in "${ACTIVE[@]}"; do stop_server "$s"; done

for ((r = 0; r < ROUNDS; r++)); do
  for s in $(rotated "$r"); do
    start_server "$s"
    sleep 0.3
    res=$(loadgen "$s" idle --connections "$IDLE_CONNECTIONS" --settle 2)
    kib=$(field kib_per_conn "$res")
    printf 'idle\t0\t%s\t%s\t%s\t%s\t0\n' "$IDLE_CONNECTIONS" "$s" "$r" "$kib" >>"$RESULTS"
    log "idle x$IDLE_CONNECTIONS $s: ${kib} KiB/connection"
    stop_server "$s"
  done
done

# ---------------------------------------------------------------- report
describe_machine
export ROUNDS DURATION WINDOW IDLE_CONNECTIONS HS_CONCURRENCY
REPORT=$(python3 - "$RESULTS" "${ACTIVE[@]}" <<'EOF'
import os, sys, statistics
from collections import defaultdict

path, servers = sys.argv[1], sys.argv[2:]
cells = defaultdict(list)
rates = defaultdict(list)
order = []
for line in open(path):
    kind, size, conns, server, _round, value, rate = line.rstrip("\n").split("\t")
    key = (kind, int(size), int(conns))
    if key not in order:
        order.append(key)
    cells[key + (server,)].append(float(value))
    rates[key + (server,)].append(float(rate))

def label(kind, size, conns):
    if kind == "echo":
        name = {16: "16 B", 1024: "1 KiB", 65536: "64 KiB", 1048576: "1 MiB"}.get(size, f"{size} B")
        return f"{name} echo", f"{conns}"
    if kind == "handshake":
        return "handshake", f"{conns} concurrent"
    return "idle connection (memory)", f"{conns:,}"

def fmt(kind, v):
    if kind == "idle":
        return f"{v:.1f} KiB"
    if v >= 1000:
        return f"{v / 1000:.2f} ms"
    return f"{v:.2f} µs" if v < 10 else f"{v:.1f} µs"

names = {"wsgate": "wsgate (async-std)", "wsgate-smol": "wsgate (smol)", "wsgate-tokio": "wsgate (tokio)",
         "fastwebsockets": "fastwebsockets", "tokio-tungstenite": "tokio-tungstenite",
         "async-tungstenite": "async-tungstenite (async-std)", "node-ws": "Node ws"}
# wsgate's echo example built for each runtime: their cells carry no ratio
# in the first table; the second divides each of them by the peers.
builds = [s for s in ("wsgate", "wsgate-smol", "wsgate-tokio") if s in servers]
peers = [s for s in ("fastwebsockets", "async-tungstenite") if s in servers]

def median(key, s):
    vals = cells.get(key + (s,))
    return statistics.median(vals) if vals else None

out = []
out.append("| work | connections | " + " | ".join(names.get(s, s) for s in servers) + " |")
out.append("|---|---|" + "---|" * len(servers))
for key in order:
    kind = key[0]
    base = cells.get(key + ("wsgate",))
    base_med = statistics.median(base) if base else None
    row = list(label(*key))
    for s in servers:
        vals = cells.get(key + (s,))
        if not vals:
            row.append("–")
            continue
        med = statistics.median(vals)
        cell = fmt(kind, med)
        if len(vals) > 1 and med > 0:
            spread = (max(vals) - min(vals)) / med * 100
            cell += f" ±{spread / 2:.0f}%"
        if s not in builds and base_med is not None and med > 0:
            cell += f" (**{base_med / med:.2f}×**)"
        row.append(cell)
    out.append("| " + " | ".join(row) + " |")

if builds and peers:
    out.append("")
    out.append("Each wsgate build's cost divided by the peer's (medians from the table above; "
               "below 1.0× wsgate is cheaper):")
    out.append("")
    cols = [(b, p) for p in peers for b in builds]
    out.append("| work | connections | " + " | ".join(
        f"{names[b]} ÷ {names[p].split(' (')[0]}" for b, p in cols) + " |")
    out.append("|---|---|" + "---|" * len(cols))
    for key in order:
        row = list(label(*key))
        for b, p in cols:
            mb, mp = median(key, b), median(key, p)
            row.append(f"{mb / mp:.2f}×" if mb is not None and mp else "–")
        out.append("| " + " | ".join(row) + " |")

out.append("")
out.append("Throughput seen by the load generator (messages or handshakes per second, median; the client "
           "shares no CPU with the server, but at small sizes it is often the bottleneck):")
out.append("")
out.append("| work | connections | " + " | ".join(names.get(s, s) for s in servers) + " |")
out.append("|---|---|" + "---|" * len(servers))
for key in order:
    if key[0] == "idle":
        continue
    row = list(label(*key))
    for s in servers:
        vals = rates.get(key + (s,))
        row.append(f"{statistics.median(vals):,.0f}/s" if vals else "–")
    out.append("| " + " | ".join(row) + " |")

e = os.environ
head = [
    "Server CPU time per echoed message or handshake (utime+stime from /proc, median of "
    f"{e['ROUNDS']} round(s)), and server memory per idle connection. "
    "`(N×)` in a peer's column is wsgate's cost (on async-std, the default features) divided by "
    "that peer's: below 1.0× wsgate is cheaper. "
    "`±` is half the spread between rounds, relative to the median.",
    "",
    f"Machine: {os.cpu_count()} CPUs, {e['MODEL']}; server pinned to CPU 1, load generator to CPU 0. "
    f"wsgate {e['COMMIT']}{e['DIRTY']}. Echo: binary messages, window {e['WINDOW']} per connection, "
    f"{e['DURATION']} s per cell after warm-up; handshakes: {e['HS_CONCURRENCY']} concurrent "
    f"connect+upgrade+close loops; idle: {int(e['IDLE_CONNECTIONS']):,} connections.",
    "",
]
print("\n".join(head + out))
EOF
)
echo
echo "$REPORT"
if [ -n "$OUT" ]; then
  echo "$REPORT" >"$OUT"
  log "report written to $OUT"
fi
mkdir -p "$COMPARE/target"
cp "$RESULTS" "$COMPARE/target/compare-results.tsv"
log "raw results: benches/compare/target/compare-results.tsv"
