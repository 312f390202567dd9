#!/usr/bin/env bash
# Two nodes over Redis: a publisher on node A, subscribers on node B, at a
# fixed rate. Delivered copies per second and p50/p99/max publish-to-
# receive latency across the nodes, against the same load on one node
# without Redis (the local baseline).
#
#   benches/redis.sh            # 3 rounds; 100 subscribers at 1k, 5k, 20k msgs/s,
#                               # 10 at 20k and 1,000 at 1k; 5 s each (~5 min)
#   benches/redis.sh --quick    # 1 round, 2 s each (~1 min)
#
# Options: --rounds N, --cases "SUBSCRIBERS:RATE ..." (default "100:1000
#          100:5000 100:20000 10:20000 1000:1000"), --duration SECS (per run),
#          --size BYTES, --out FILE (Markdown report), --no-build.
#
# Method
# - The script starts its own redis-server (no persistence) on a free
#   loopback port and stops it, by pid, when it ends, also on an error.
# - Each run starts fresh servers: for "redis", two examples/fanout.rs
#   nodes with --redis (the `redis` feature, async-std); for "local", one
#   node without a broker. Redis and the nodes are pinned to CPU 1, the
#   load generator (examples/loadgen.rs, mode relay) to CPU 0.
# - The load generator opens the subscribers on node B (for "local", the
#   one node) and a publisher on node A, sends warm-up messages until
#   every subscriber has one, then binary messages at the fixed rate for
#   the duration, each carrying its sequence number and its send time.
#   Delivered copies/s is copies received over the time from the first
#   send to the last copy; latency is receive time minus send time (one
#   clock: the load generator's); a copy not received 2 s after the last
#   one is lost (delivery over Redis is at most once); a copy out of order
#   or twice fails the run.
# - The setups run one after the other in an order rotated every round;
#   the report gives the medians over rounds.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
COMPARE="$ROOT/benches/compare"
ROUNDS=3
CASES="100:1000 100:5000 100:20000 10:20000 1000:1000"
DURATION=5
SIZE=64
OUT=""
BUILD=1

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) ROUNDS=1; DURATION=2 ;;
    --rounds) ROUNDS=$2; shift ;;
    --cases) CASES=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --size) SIZE=$2; shift ;;
    --out) OUT=$2; shift ;;
    --no-build) BUILD=0 ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

# shellcheck source=benches/common.sh
source "$ROOT/benches/common.sh"
require_tools redis.sh taskset python3 cargo redis-server

# Hard bound on the whole run, whatever happens.
SCRIPT_DEADLINE=$(( $(date +%s) + 30 * 60 ))

WORK=$(mktemp -d /tmp/wsgate-redis.XXXXXX)
RESULTS="$WORK/results.tsv"
: > "$RESULTS"
REDIS_PID=""
NODE_PIDS=()
stop_nodes() {
  local pid
  for pid in "${NODE_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${NODE_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  NODE_PIDS=()
}
cleanup() {
  stop_nodes
  if [ -n "$REDIS_PID" ]; then
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- build
FANOUT="$ROOT/target/release/examples/fanout"
LOADGEN="$ROOT/target/release/examples/loadgen"
if [ "$BUILD" = 1 ]; then
  log "building examples/fanout.rs and examples/loadgen.rs (--features redis: async-std and the Redis broker)"
  (cd "$ROOT" && cargo build --release --features redis --example fanout --example loadgen) >&2
fi
for bin in "$FANOUT" "$LOADGEN"; do
  [ -x "$bin" ] || { echo "$bin is missing (run without --no-build)" >&2; exit 2; }
done

# Open files: one per connection on each side, and some to spare.
MAX_SUBS=0
for c in $CASES; do
  s=${c%%:*}
  [ "$s" -gt "$MAX_SUBS" ] && MAX_SUBS=$s
done
raise_open_files $((MAX_SUBS + 1024))
if [ "$(ulimit -n)" -lt $((MAX_SUBS + 1024)) ]; then
  echo "the open-file limit $(ulimit -n) is too low for $MAX_SUBS subscribers" >&2; exit 2
fi

# A free loopback port (the kernel picks one; nothing else should take it
# in the moment before its server binds it).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------- redis
REDIS_PORT=$(free_port)
taskset -c "$SERVER_CPU" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 \
  --save '' --appendonly no --daemonize no >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
wait_listening "$REDIS_PORT" redis-server "$WORK/redis.log"
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
REDIS_VERSION=$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')
log "redis-server $REDIS_VERSION on 127.0.0.1:$REDIS_PORT (pid $REDIS_PID)"

# ---------------------------------------------------------------- runs
# start_node NAME [--redis URL]: a fresh fanout node on a free port; sets
# NODE_PORT.
start_node() {
  local name=$1
  shift
  NODE_PORT=$(free_port)
  taskset -c "$SERVER_CPU" "$FANOUT" --addr "127.0.0.1:$NODE_PORT" "$@" \
    >"$WORK/$name.log" 2>&1 &
  NODE_PIDS+=($!)
  wait_listening "$NODE_PORT" "$name" "$WORK/$name.log"
}

# The sum over the nodes' logs ($2...) of a broker counter they print at
# shutdown: $1 is "dropped" or "reconnects".
broker_count() {
  local what=$1
  shift
  # (a node without a broker prints none: grep finds nothing)
  cat "$@" 2>/dev/null | { grep '^broker: ' || true; } | { grep -o "[0-9]* $what" || true; } \
    | awk '{ s += $1 } END { print s + 0 }'
}

SETUPS=(redis local)
ACTIVE=("${SETUPS[@]}")
log "cases (subscribers:rate) $CASES; rounds $ROUNDS; $DURATION s each; $SIZE B messages"
for c in $CASES; do
  subs=${c%%:*}
  rate=${c##*:}
  for ((r = 0; r < ROUNDS; r++)); do
    for setup in $(rotated "$r"); do
      if [ "$(date +%s)" -gt "$SCRIPT_DEADLINE" ]; then
        echo "redis.sh: over its 30-minute bound; stopping" >&2; exit 1
      fi
      rm -f "$WORK"/node-*.log
      if [ "$setup" = redis ]; then
        start_node node-a --redis "$REDIS_URL"; PORT_A=$NODE_PORT
        start_node node-b --redis "$REDIS_URL"; PORT_B=$NODE_PORT
      else
        start_node node-a; PORT_A=$NODE_PORT; PORT_B=$NODE_PORT
      fi
      load=$(cut -d' ' -f1 /proc/loadavg)
      if ! out=$(timeout 300 taskset -c "$CLIENT_CPU" "$LOADGEN" \
          --url "ws://127.0.0.1:$PORT_A/" relay --url-b "ws://127.0.0.1:$PORT_B/" \
          --connections "$subs" --rate "$rate" --duration "$DURATION" --size "$SIZE" \
          2>"$WORK/loadgen.err"); then
        echo "loadgen ($setup, $subs subscribers at $rate/s) failed:" >&2
        cat "$WORK/loadgen.err" >&2
        echo "$out" >&2
        exit 1
      fi
      stop_nodes
      dropped=$(broker_count dropped "$WORK"/node-*.log)
      reconnects=$(broker_count reconnects "$WORK"/node-*.log)
      res=$(grep '^RESULT ' <<<"$out")
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$subs" "$rate" \
        "$setup" "$r" "$(field delivered_per_s "$res")" "$(field p50_us "$res")" \
        "$(field p99_us "$res")" "$(field max_us "$res")" "$(field lost "$res")" \
        "$(field lost_at_end "$res")" "$(field expected "$res")" "$(field behind_ms "$res")" \
        "$dropped" "$reconnects" "$load" >>"$RESULTS"
      log "$subs subscribers at $rate/s, $setup: $(field delivered_per_s "$res") copies/s," \
        "p50 $(field p50_us "$res") µs, p99 $(field p99_us "$res") µs, lost $(field lost "$res") ($(field lost_at_end "$res") at the end)," \
        "broker reconnects $reconnects, load $load"
    done
  done
done

# ---------------------------------------------------------------- report
describe_machine
export ROUNDS DURATION SIZE REDIS_VERSION
REPORT=$(python3 - "$RESULTS" <<'EOF_PY'
import os, sys, statistics
from collections import defaultdict

rows = defaultdict(list)
cases = []
loads = []
for line in open(sys.argv[1]):
    (subs, rate, setup, _r, dps, p50, p99, mx, lost, lost_end, expected, behind, dropped,
     reconnects, load) = line.rstrip("\n").split("\t")
    case = (int(subs), int(float(rate)))
    if case not in cases:
        cases.append(case)
    rows[(case, setup)].append(dict(dps=float(dps), p50=float(p50), p99=float(p99),
                                     max=float(mx), lost=int(lost), lost_end=int(lost_end),
                                     expected=int(expected), behind=float(behind),
                                     dropped=int(dropped), reconnects=int(reconnects)))
    loads.append(float(load))

def med(case, setup, key):
    vals = [r[key] for r in rows.get((case, setup), [])]
    return statistics.median(vals) if vals else None

def ms(us):
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"

e = os.environ
out = [
    f"Median of {e['ROUNDS']} round(s), {e['DURATION']} s at the fixed rate per run, "
    f"{e['SIZE']} B binary messages; \"redis\" is a publisher on node A and the subscribers "
    "on node B, two examples/fanout.rs nodes joined by RedisBroker; \"local\" is the same "
    "load on one node without a broker.",
    "",
    f"Machine: {os.cpu_count()} CPUs, {e['MODEL']}; redis-server {e['REDIS_VERSION']} and the "
    f"nodes pinned to CPU 1, the load generator to CPU 0. wsgate {e['COMMIT']}{e['DIRTY']}. "
    f"1-minute load at the start of the runs: {min(loads):.2f}–{max(loads):.2f} "
    f"(median {statistics.median(loads):.2f}).",
    "",
    "| subscribers | rate | setup | delivered copies/s | p50 | p99 | max | lost (all rounds) | publisher behind (max) |",
    "|---|---|---|---|---|---|---|---|---|",
]
for case in cases:
    for setup in ("redis", "local"):
        if (case, setup) not in rows:
            continue
        rs = rows[(case, setup)]
        lost = sum(r["lost"] for r in rs)
        expected = sum(r["expected"] for r in rs)
        dropped = sum(r["dropped"] for r in rs)
        reconnects = sum(r["reconnects"] for r in rs)
        lost_cell = f"{lost:,} of {expected:,}"
        notes = []
        if lost:
            notes.append(f"{sum(r['lost_end'] for r in rs):,} at the end")
        if dropped:
            notes.append(f"{dropped:,} publishes dropped by the broker")
        if reconnects:
            notes.append(f"{reconnects} broker reconnects")
        if notes:
            lost_cell += " (" + "; ".join(notes) + ")"
        out.append(
            f"| {case[0]:,} | {case[1]:,}/s | {setup} | {med(case, setup, 'dps'):,.0f}/s | "
            f"{ms(med(case, setup, 'p50'))} | {ms(med(case, setup, 'p99'))} | "
            f"{ms(med(case, setup, 'max'))} | {lost_cell} | "
            f"{max(r['behind'] for r in rs):.1f} ms |")
out += ["", "What crossing Redis adds (redis minus local, medians):", "",
        "| subscribers | rate | p50 | p99 |", "|---|---|---|---|"]
for case in cases:
    a, b = (med(case, "redis", "p50"), med(case, "local", "p50"))
    c, d = (med(case, "redis", "p99"), med(case, "local", "p99"))
    if None in (a, b, c, d):
        continue
    sign = lambda x: ("+" if x >= 0 else "−") + ms(abs(x))
    out.append(f"| {case[0]:,} | {case[1]:,}/s | {sign(a - b)} | {sign(c - d)} |")
print("\n".join(out))
EOF_PY
)
echo
echo "$REPORT"
if [ -n "$OUT" ]; then
  echo "$REPORT" >"$OUT"
  log "report written to $OUT"
fi
mkdir -p "$COMPARE/target"
cp "$RESULTS" "$COMPARE/target/redis-results.tsv"
log "raw results: benches/compare/target/redis-results.tsv"
