#!/usr/bin/env bash
# Fair CPU under compression: the echo latency of one connection sending a
# 64-byte text every 10 ms, quiet and then while another connection (in a
# second process) streams 64 MiB compressed text messages through the echo
# example, which inflates each and compresses its echo.
#
#   benches/fairness-deflate.sh [SECONDS] [PYTHON]
#
# SECONDS per phase (default 20); PYTHON has `websockets` (default: the
# tests' virtualenv under target/dev/tmp). Prints p50 / p99 / max of the
# small connection's round trips in each phase, and how many big messages
# were echoed. 127.0.0.1 only. ECHO=path runs that echo binary instead of
# building one (to compare two builds: copy each aside first; two checkouts
# sharing a target directory can leave the other's binary in place).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-20}
TARGET=${CARGO_TARGET_DIR:-target}
PY=${2:-$TARGET/tmp/websockets-17.4/bin/python}
if [ -z "${ECHO:-}" ]; then
    cargo build --release --example echo >/dev/null
    ECHO=$TARGET/release/examples/echo
fi
PORT=19411
"$ECHO" --addr "127.0.0.1:$PORT" --ping-interval 0 >/dev/null 2>&1 &
server=$!
trap 'kill $server $big 2>/dev/null || true' EXIT
big=
sleep 1

BIG='
import random, sys, time
from websockets.sync.client import connect
port, secs = int(sys.argv[1]), float(sys.argv[2])
rng = random.Random(1)
words = ["alpha ", "beta ", "websocket ", "deflate ", "{\"id\":42} ", "\n"]
block = "".join(rng.choice(words) for _ in range(200_000))
text = (block * (64 * 2**20 // len(block) + 1))[: 64 * 2**20]
with connect(f"ws://127.0.0.1:{port}/", max_size=None, compression="deflate",
             ping_interval=None, close_timeout=30) as ws:
    print("ready", flush=True)
    n, end = 0, time.time() + secs
    while time.time() < end:
        ws.send(text)
        assert ws.recv(timeout=120) == text
        n += 1
    print(n, flush=True)
'

SMALL='
import statistics, sys, time
from websockets.sync.client import connect
port, secs, label = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
rtts = []
with connect(f"ws://127.0.0.1:{port}/", compression="deflate", ping_interval=None) as ws:
    end = time.time() + secs
    while time.time() < end:
        t = time.perf_counter()
        ws.send("x" * 64)
        ws.recv(timeout=30)
        rtts.append((time.perf_counter() - t) * 1000)
        time.sleep(0.01)
rtts.sort()
q = lambda p: rtts[min(len(rtts) - 1, int(p * len(rtts)))]
print(f"{label}: {len(rtts)} round trips, p50 {q(0.5):.2f} ms, p99 {q(0.99):.2f} ms, max {rtts[-1]:.2f} ms")
'

"$PY" -c "$SMALL" "$PORT" "$SECS" quiet
coproc BIGP { nice -n 19 "$PY" -c "$BIG" "$PORT" "$((SECS + 5))"; }
big=$BIGP_PID
read -r _ <&"${BIGP[0]}"
sleep 2
"$PY" -c "$SMALL" "$PORT" "$SECS" "while 64 MiB messages stream"
read -r echoed <&"${BIGP[0]}"
echo "64 MiB compressed messages echoed meanwhile: $echoed"
