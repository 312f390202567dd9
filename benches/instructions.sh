#!/usr/bin/env bash
# Counts the user-space instructions an echo server executes per echoed
# message, with valgrind's callgrind: the server runs under callgrind twice
# while examples/loadgen sends a fixed number of messages, fewer the first
# time, and the difference divided by the difference in messages is the
# cost of one message, without start-up, handshakes and closes. The counts
# are exact and repeatable (not timings), so they show a change of a few
# percent in the server's own code that CPU-time runs on a noisy machine
# cannot; they leave out the kernel, which is most of the CPU time (see
# compare.sh for that, and syscalls.sh for the system calls).
#
#   benches/instructions.sh                               # wsgate, 64 x 16 B
#   benches/instructions.sh --size 1024 wsgate fastwebsockets
#   benches/instructions.sh --top 25 wsgate               # and the top functions
#   benches/instructions.sh --baseline /tmp/echo-before wsgate baseline
#
# Options: --conns N, --size BYTES, --messages N (the larger count; the
# smaller is a third of it), --top N (functions with the most
# instructions per message), --baseline BINARY (an earlier build of the
# echo example, run as the server "baseline").
#
# Needs valgrind (Debian: valgrind); run compare.sh once first (or build
# the same binaries) so the servers exist. Each server runs about 20 s per
# count under callgrind.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
COMPARE="$ROOT/benches/compare"
CONNS=64
SIZE=16
FEW=10000
MANY=30000
TOP=0
BASELINE=""
PORT=19391
SERVERS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --conns) CONNS=$2; shift ;;
    --size) SIZE=$2; shift ;;
    --messages) MANY=$2; FEW=$(( $2 / 3 )); shift ;;
    --top) TOP=$2; shift ;;
    --baseline) BASELINE=$2; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) SERVERS+=("$1") ;;
  esac
  shift
done
[ ${#SERVERS[@]} -gt 0 ] || SERVERS=(wsgate)
command -v valgrind >/dev/null || { echo "valgrind is needed (Debian: apt-get install valgrind)" >&2; exit 2; }

# shellcheck source=benches/servers.sh
source "$ROOT/benches/servers.sh"
LOADGEN="$ROOT/target/release/examples/loadgen"
[ -z "$BASELINE" ] || CMD[baseline]="$BASELINE"

WORK=$(mktemp -d /tmp/wsgate-instructions.XXXXXX)
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

# Runs server $1 under callgrind for $2 messages; writes $WORK/$3.out.
count() {
  local server=$1 messages=$2 out=$WORK/$3.out
  # shellcheck disable=SC2086
  valgrind --tool=callgrind --callgrind-out-file="$out" ${CMD[$server]} --addr "127.0.0.1:$PORT" \
    >/dev/null 2>"$out.log" &
  SERVER_PID=$!
  for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
  timeout 600 "$LOADGEN" --url "ws://127.0.0.1:$PORT/" echo --connections "$CONNS" \
    --size "$SIZE" --binary --messages "$messages" >"$WORK/loadgen.log" 2>&1 \
    || { cat "$WORK/loadgen.log" >&2; exit 1; }
  kill -INT "$SERVER_PID"
  for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

for s in "${SERVERS[@]}"; do
  [ -n "${CMD[$s]:-}" ] || { echo "unknown server $s" >&2; exit 2; }
  count "$s" "$FEW" few
  count "$s" "$MANY" many
  python3 - "$s" "$CONNS" "$SIZE" "$FEW" "$MANY" "$WORK" "$TOP" <<'EOF'
import re, subprocess, sys
name, conns, size, few, many, work, top = sys.argv[1:8]
few, many, top = int(few), int(many), int(top)

def functions(path):
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    total, costs = 0, {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(.*)", line)
        if not m:
            continue
        n = int(m.group(1).replace(",", ""))
        if "PROGRAM TOTALS" in line:
            total = n
            continue
        fn = re.sub(r" \[.*\]$", "", m.group(2))
        fn = re.sub(r"^[^:]*:", "", fn, count=1)
        costs[fn] = costs.get(fn, 0) + n
    return total, costs

t1, c1 = functions(f"{work}/few.out")
t2, c2 = functions(f"{work}/many.out")
n = many - few
print(f"{name:18} {conns}x{size}B: {(t2 - t1) / n:.0f} user-space instructions per message")
if top:
    rows = sorted(((c2.get(k, 0) - c1.get(k, 0)) / n, k) for k in set(c1) | set(c2))
    for per, fn in reversed(rows[-top:]):
        print(f"  {per:7.1f}  {fn[:110]}")
EOF
done
