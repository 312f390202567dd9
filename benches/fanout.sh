#!/usr/bin/env bash
# Fan-out: one message to 10,000 local subscribers. Server CPU per
# delivered copy of wsgate's topics (`handle.publish`), of a loop of
# `conn.send` over wsgate's registry, and of Node ws's
# `wss.clients.forEach(c => c.send(m))`.
#
#   benches/fanout.sh            # 3 rounds, 10,000 subscribers, 64 B and 1 KiB (~10 min)
#   benches/fanout.sh --quick    # 1 round, 1,000 subscribers, 64 B (~1 min)
#
# Options: --rounds N, --connections N (subscribers), --messages M (per
#          run), --sizes "64 1024", --window W (messages in flight),
#          --servers "wsgate-publish wsgate-send-loop node-ws", --out FILE
#          (Markdown report), --no-build.
#
# Servers: wsgate-publish and wsgate-send-loop are examples/fanout.rs
# (default features: async-std) with --mode publish and --mode send-loop;
# node-ws is benches/compare/node/server.js --fanout. Each sends every message it
# receives to every connection, the sender included.
#
# Method
# - Each run starts a fresh server pinned to CPU 1 and runs the load
#   generator (examples/loadgen.rs, mode fanout) pinned to CPU 0, on
#   loopback: it opens N subscriber connections and a publisher
#   connection, publishes warm-up messages until every connection has had
#   one (plus one that everyone must get), then M measured messages, at
#   most W undelivered at a time (W x (N+1) copies). Every copy is checked
#   (content, order, none missing); a server that drops one fails the run.
# - The metric is the server's CPU time (utime + stime from /proc/PID/stat)
#   over the measured messages divided by the copies delivered,
#   M x (N + 1). It does not depend on whether the client or the server
#   was the bottleneck.
# - The servers run one after another in an order rotated every round;
#   the report gives the median over rounds and the ratios of the medians.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
COMPARE="$ROOT/benches/compare"
ROUNDS=3
CONNECTIONS=10000
MESSAGES=60
SIZES="64 1024"
WINDOW=1
SERVERS="wsgate-publish wsgate-send-loop node-ws"
OUT=""
BUILD=1
BASE_PORT=19500

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) ROUNDS=1; CONNECTIONS=1000; MESSAGES=200; SIZES=64 ;;
    --rounds) ROUNDS=$2; shift ;;
    --connections) CONNECTIONS=$2; shift ;;
    --messages) MESSAGES=$2; shift ;;
    --sizes) SIZES=$2; shift ;;
    --window) WINDOW=$2; shift ;;
    --servers) SERVERS=$2; shift ;;
    --out) OUT=$2; shift ;;
    --no-build) BUILD=0 ;;
    -h|--help) sed -n '2,33p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

# shellcheck source=benches/common.sh
source "$ROOT/benches/common.sh"
require_tools fanout.sh taskset python3 cargo

# Hard bound on the whole run, whatever happens.
SCRIPT_DEADLINE=$(( $(date +%s) + 40 * 60 ))

WORK=$(mktemp -d /tmp/wsgate-fanout.XXXXXX)
RESULTS="$WORK/results.tsv"
: > "$RESULTS"
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

# ---------------------------------------------------------------- build
FANOUT="$ROOT/target/release/examples/fanout"
LOADGEN="$ROOT/target/release/examples/loadgen"
if [ "$BUILD" = 1 ]; then
  log "building examples/fanout.rs and examples/loadgen.rs (default features: async-std)"
  (cd "$ROOT" && cargo build --release --example fanout --example loadgen) >&2
fi
declare -A CMD
CMD[wsgate-publish]="$FANOUT --mode publish"
CMD[wsgate-send-loop]="$FANOUT --mode send-loop"
CMD[node-ws]="node $COMPARE/node/server.js --fanout"

ACTIVE=()
for s in $SERVERS; do
  if [ "$s" = node-ws ]; then
    node_ws_ready || continue
  elif [ -z "${CMD[$s]:-}" ]; then
    echo "unknown server $s" >&2; exit 2
  fi
  ACTIVE+=("$s")
done
for bin in "$FANOUT" "$LOADGEN"; do
  [ -x "$bin" ] || { echo "$bin is missing (run without --no-build)" >&2; exit 2; }
done

# Open files: one per connection on each side, and some to spare.
NEED=$((CONNECTIONS + 1024))
raise_open_files "$NEED"
if [ "$(ulimit -n)" -lt "$NEED" ]; then
  CONNECTIONS=$(( $(ulimit -n) - 1024 ))
  log "open-file limit $(ulimit -n): reduced to $CONNECTIONS subscribers"
fi

# ---------------------------------------------------------------- runs
PORT=$BASE_PORT
start_server() {
  local s=$1
  if port_open "$PORT"; then
    echo "port $PORT is already in use; is another run going?" >&2; exit 1
  fi
  # shellcheck disable=SC2086
  taskset -c "$SERVER_CPU" ${CMD[$s]} --addr "127.0.0.1:$PORT" >"$WORK/$s.log" 2>&1 &
  SERVER_PID=$!
  wait_listening "$PORT" "$s" "$WORK/$s.log"
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

log "servers: ${ACTIVE[*]}; rounds $ROUNDS; $CONNECTIONS subscribers; $MESSAGES messages of $SIZES B; window $WINDOW"
for size in $SIZES; do
  for ((r = 0; r < ROUNDS; r++)); do
    for s in $(rotated "$r"); do
      if [ "$(date +%s)" -gt "$SCRIPT_DEADLINE" ]; then
        echo "fanout.sh: over its 40-minute bound; stopping" >&2; exit 1
      fi
      start_server "$s"
      if ! out=$(timeout 300 taskset -c "$CLIENT_CPU" "$LOADGEN" \
          --url "ws://127.0.0.1:$PORT/" fanout --connections "$CONNECTIONS" \
          --messages "$MESSAGES" --size "$size" --binary --window "$WINDOW" \
          --pid "$SERVER_PID" 2>"$WORK/loadgen.err"); then
        echo "loadgen against $s failed:" >&2
        cat "$WORK/loadgen.err" >&2
        echo "$out" >&2
        exit 1
      fi
      stop_server
      PORT=$((PORT + 1))
      res=$(grep '^RESULT ' <<<"$out")
      cpu=$(field server_cpu_us_per_delivery "$res")
      rate=$(field delivered_per_s "$res")
      printf '%s\t%s\t%s\t%s\t%s\n' "$size" "$s" "$r" "$cpu" "$rate" >>"$RESULTS"
      log "${size} B to $CONNECTIONS, $s: ${cpu} µs per delivered copy, ${rate} copies/s"
    done
  done
done

# ---------------------------------------------------------------- report
describe_machine
export ROUNDS CONNECTIONS MESSAGES WINDOW
REPORT=$(python3 - "$RESULTS" "${ACTIVE[@]}" <<'EOF'
import os, sys, statistics
from collections import defaultdict

path, servers = sys.argv[1], sys.argv[2:]
cpu = defaultdict(list)
rate = defaultdict(list)
sizes = []
for line in open(path):
    size, server, _round, value, r = line.rstrip("\n").split("\t")
    size = int(size)
    if size not in sizes:
        sizes.append(size)
    cpu[(size, server)].append(float(value))
    rate[(size, server)].append(float(r))

names = {"wsgate-publish": "wsgate `publish`", "wsgate-send-loop": "wsgate `send` loop",
         "node-ws": "Node ws `clients.forEach`"}
def label(size):
    return {1024: "1 KiB", 65536: "64 KiB"}.get(size, f"{size} B")
def med(size, s, table=cpu):
    vals = table.get((size, s))
    return statistics.median(vals) if vals else None

e = os.environ
out = [
    "Server CPU time per delivered copy (utime+stime from /proc over the measured messages, "
    f"divided by messages × recipients; median of {e['ROUNDS']} round(s); `±` is half the "
    "spread between rounds, relative to the median).",
    "",
    f"Machine: {os.cpu_count()} CPUs, {e['MODEL']}; server pinned to CPU 1, load generator to "
    f"CPU 0. wsgate {e['COMMIT']}{e['DIRTY']}. {int(e['CONNECTIONS']):,} subscriber connections "
    f"plus the publisher's (subscribed too), {e['MESSAGES']} binary messages per run, "
    f"window {e['WINDOW']}; a fresh server per run.",
    "",
    "| message | " + " | ".join(names.get(s, s) for s in servers) + " |",
    "|---|" + "---|" * len(servers),
]
for size in sizes:
    row = [label(size)]
    for s in servers:
        vals = cpu.get((size, s))
        if not vals:
            row.append("–")
            continue
        m = statistics.median(vals)
        cell = f"{m:.2f} µs"
        if len(vals) > 1 and m > 0:
            cell += f" ±{(max(vals) - min(vals)) / m * 50:.0f}%"
        row.append(cell)
    out.append("| " + " | ".join(row) + " |")

pairs = [(a, b) for a, b in [("wsgate-publish", "wsgate-send-loop"), ("wsgate-publish", "node-ws"),
                             ("wsgate-send-loop", "node-ws")] if a in servers and b in servers]
if pairs:
    out += ["", "Ratios of the medians (below 1.0× the first is cheaper):", ""]
    out.append("| message | " + " | ".join(f"{names[a]} ÷ {names[b]}" for a, b in pairs) + " |")
    out.append("|---|" + "---|" * len(pairs))
    for size in sizes:
        row = [label(size)]
        for a, b in pairs:
            ma, mb = med(size, a), med(size, b)
            row.append(f"{ma / mb:.2f}×" if ma is not None and mb else "–")
        out.append("| " + " | ".join(row) + " |")

out += ["", "Copies delivered per second, as the load generator saw them (median; the load "
        "generator, one thread reading every connection, is usually the bottleneck):", ""]
out.append("| message | " + " | ".join(names.get(s, s) for s in servers) + " |")
out.append("|---|" + "---|" * len(servers))
for size in sizes:
    row = [label(size)]
    for s in servers:
        m = med(size, s, rate)
        row.append(f"{m:,.0f}/s" if m is not None else "–")
    out.append("| " + " | ".join(row) + " |")
print("\n".join(out))
EOF
)
echo
echo "$REPORT"
if [ -n "$OUT" ]; then
  echo "$REPORT" >"$OUT"
  log "report written to $OUT"
fi
mkdir -p "$COMPARE/target"
cp "$RESULTS" "$COMPARE/target/fanout-results.tsv"
log "raw results: benches/compare/target/fanout-results.tsv"
