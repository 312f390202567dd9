#!/usr/bin/env bash
# Counts what an echo server does per echoed message: system calls by kind
# and (with --mallocs) libc malloc/realloc calls, using perf tracepoints and
# uprobes on the server process while examples/loadgen sends a fixed number
# of messages. Complements compare.sh (CPU time) when working on the hot
# path: the numbers are exact counts, not timings, so they do not depend on
# a quiet machine.
#
#   benches/syscalls.sh                                  # wsgate, 64 x 16 B
#   benches/syscalls.sh --conns 1 --size 1024 wsgate wsgate-smol wsgate-tokio fastwebsockets
#   benches/syscalls.sh --mallocs --size 65536 --messages 5000 wsgate
#   benches/syscalls.sh --window 16 wsgate fastwebsockets   # 16 in flight (corking)
#
# Servers are named as in compare.sh (benches/servers.sh): wsgate,
# wsgate-smol and wsgate-tokio are examples/echo.rs built for async-std,
# smol and tokio. Reads that fail with EAGAIN (a read that found nothing)
# are counted apart, as recvfrom-EAGAIN and read-EAGAIN.
#
# Needs perf with tracepoints (Debian: linux-perf) and root; run
# compare.sh once first (or build the same binaries) so the servers exist.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
COMPARE="$ROOT/benches/compare"
CONNS=64
SIZE=16
MESSAGES=20000
MALLOCS=0
WINDOW=1
PORT=19390
SERVERS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --conns) CONNS=$2; shift ;;
    --size) SIZE=$2; shift ;;
    --messages) MESSAGES=$2; shift ;;
    --mallocs) MALLOCS=1 ;;
    --window) WINDOW=$2; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) SERVERS+=("$1") ;;
  esac
  shift
done
[ ${#SERVERS[@]} -gt 0 ] || SERVERS=(wsgate)

# shellcheck source=benches/servers.sh
source "$ROOT/benches/servers.sh"
LOADGEN="$ROOT/target/release/examples/loadgen"

EVENTS="raw_syscalls:sys_enter,context-switches"
for s in recvfrom read readv writev write sendto sendmsg epoll_wait epoll_pwait epoll_ctl \
  futex timerfd_settime; do
  EVENTS="$EVENTS,syscalls:sys_enter_$s"
done
# Reads that found nothing (EAGAIN is 11 on Linux).
EAGAIN_EVENTS=(-e syscalls:sys_exit_recvfrom --filter 'ret == -11'
  -e syscalls:sys_exit_read --filter 'ret == -11')
if [ "$MALLOCS" = 1 ]; then
  LIBC=$(ldd "$LOADGEN" | sed -n 's/.*libc\.so\.6 => \([^ ]*\).*/\1/p')
  perf probe -q -x "$LIBC" --add malloc --add realloc 2>/dev/null || true
  EVENTS="$EVENTS,probe_libc:malloc,probe_libc:realloc"
fi

WORK=$(mktemp -d /tmp/wsgate-syscalls.XXXXXX)
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

for s in "${SERVERS[@]}"; do
  [ -n "${CMD[$s]:-}" ] || { echo "unknown server $s" >&2; exit 2; }
  # shellcheck disable=SC2086
  taskset -c 1 ${CMD[$s]} --addr "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
  perf stat -x, -e "$EVENTS" "${EAGAIN_EVENTS[@]}" -p "$SERVER_PID" 2>"$WORK/stat.csv" &
  PERF=$!
  sleep 0.3
  timeout 300 taskset -c 0 "$LOADGEN" --url "ws://127.0.0.1:$PORT/" echo --connections "$CONNS" \
    --size "$SIZE" --binary --messages "$MESSAGES" --window "$WINDOW" >"$WORK/loadgen.log" 2>&1 \
    || { cat "$WORK/loadgen.log" >&2; exit 1; }
  sleep 0.2
  kill -INT "$PERF"; wait "$PERF" 2>/dev/null || true
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  python3 - "$s" "$MESSAGES" "$CONNS" "$SIZE" "$WORK/stat.csv" "$WINDOW" <<'EOF'
import csv, sys
name, n, conns, size, path, window = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
parts = []
for row in csv.reader(open(path)):
    if len(row) < 3:
        continue
    try:
        v = float(row[0])
    except ValueError:
        continue
    ev = (row[2].replace("raw_syscalls:sys_enter", "syscalls").replace("syscalls:sys_enter_", "")
          .replace("syscalls:sys_exit_recvfrom", "recvfrom-EAGAIN").replace("syscalls:sys_exit_read", "read-EAGAIN")
          .replace("probe_libc:", "").replace("context-switches", "ctx-switches"))
    if v > 0 or ev == "recvfrom-EAGAIN":
        parts.append(f"{ev}={v / n:.2f}")
print(f"{name:18} {conns}x{size}B, window {window}, per message (incl. {conns} handshakes and closes): " + " ".join(parts))
EOF
done
