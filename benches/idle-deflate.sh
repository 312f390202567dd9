#!/usr/bin/env bash
# Memory of an idle connection with and without permessage-deflate: the echo
# example's VmRSS before and after N Python `websockets` clients connect, per
# connection; then after each has echoed one 4 KiB text message, and after
# they close.
#
#   benches/idle-deflate.sh [N] [PYTHON]
#
# N defaults to 2000; PYTHON is an interpreter with `websockets` (default:
# the virtualenv the tests make, target/dev/tmp/websockets-17.4). The echo
# example is built in release with the default features. 127.0.0.1 only;
# each mode gets a fresh server process on its own port.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
TARGET=${CARGO_TARGET_DIR:-target}
PY=${2:-$TARGET/tmp/websockets-17.4/bin/python}
cargo build --release --example echo >/dev/null
ECHO=$TARGET/release/examples/echo
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# Opens N connections (with or without compression), says "open", waits
# for a line; echoes one message on each, says "echoed", waits; closes.
CLIENT='
import asyncio, sys
from websockets.asyncio.client import connect
n, port, compression = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
async def main():
    loop = asyncio.get_running_loop()
    line = lambda: loop.run_in_executor(None, sys.stdin.readline)
    conns = []
    for i in range(n):
        conns.append(await connect(f"ws://127.0.0.1:{port}/", ping_interval=None,
            compression=None if compression == "none" else "deflate", max_size=None))
    print("open", conns[0].response.headers.get("Sec-WebSocket-Extensions"), flush=True)
    await line()
    text = ("idle memory " * 400)[:4096]
    for ws in conns:
        await ws.send(text)
        assert await ws.recv() == text
    print("echoed", flush=True)
    await line()
    for ws in conns:
        await ws.close()
asyncio.run(main())
'

port=19300
for mode in none deflate; do
    port=$((port + 1))
    "$ECHO" --addr "127.0.0.1:$port" --ping-interval 0 >/dev/null 2>&1 &
    server=$!
    sleep 1
    base=$(rss $server)
    coproc CL { "$PY" -c "$CLIENT" "$N" "$port" "$mode"; }
    read -r opened <&"${CL[0]}"
    sleep 1
    idle=$(rss $server)
    echo >&"${CL[1]}"
    read -r _ <&"${CL[0]}"
    sleep 1
    used=$(rss $server)
    echo >&"${CL[1]}"
    wait "$CL_PID" || true
    sleep 1
    closed=$(rss $server)
    kill "$server"; wait "$server" 2>/dev/null || true
    awk -v m="$mode" -v n="$N" -v b="$base" -v i="$idle" -v u="$used" -v c="$closed" -v o="$opened" 'BEGIN {
        printf "%-8s %d connections (%s): baseline %d KiB, idle %.2f KiB/conn, after one 4 KiB echo each %.2f KiB/conn, after close %d KiB\n",
            m, n, o, b, (i - b) / n, (u - b) / n, c }'
done
