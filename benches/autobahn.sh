#!/usr/bin/env bash
# Autobahn|Testsuite fuzzingclient (server conformance) against the echo
# example, built for one runtime; prints a Markdown table per case group.
#
# The PyPI `autobahntestsuite` is Python 2 only; the suite used here is the
# Python 3 port, the public GitHub repository ricardo-valero/autobahn-testsuite,
# used as it is and never committed into wsgate. Check it out anywhere, then:
#
#   benches/autobahn.sh --setup DIR      # once: DIR/.venv with uv.lock's pins
#   benches/autobahn.sh --autobahn DIR --runtime tokio
#
# Options (each also settable through the environment variable named):
#   --setup DIR          create the venv for the checkout DIR, then exit
#   --autobahn DIR       the checkout (AUTOBAHN_DIR, required to run)
#   --venv DIR           its virtualenv (AUTOBAHN_VENV, default DIR/.venv)
#   --python EXE         interpreter for --setup (AUTOBAHN_PYTHON, default python3.11)
#   --runtime NAME       async-std | smol | tokio (RUNTIME, default async-std)
#   --cases LIST         comma-separated case patterns (AUTOBAHN_CASES, default
#                        1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*,12.*,13.*)
#   --outdir DIR         where spec, reports and server log go (AUTOBAHN_OUT,
#                        default /tmp/autobahn-RUNTIME)
#   --port N             loopback port (default: a free one)
#   --no-build           use target/release/examples/echo as it is
#
# Exit status: 0 when no case FAILED, 1 when one did, 2 on a usage or setup
# error. The whole default set takes ~7.5 min per runtime, mostly groups 12
# and 13, where the Python client (not the server) is the bottleneck.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

die() { echo "autobahn.sh: $*" >&2; exit 2; }

SETUP_DIR=""
AUTOBAHN_DIR="${AUTOBAHN_DIR:-}"
AUTOBAHN_VENV="${AUTOBAHN_VENV:-}"
AUTOBAHN_PYTHON="${AUTOBAHN_PYTHON:-python3.11}"
RUNTIME="${RUNTIME:-async-std}"
# Group 8 does not exist; 11 is not in the suite either. 12 and 13 are
# permessage-deflate (the echo example accepts it when offered).
AUTOBAHN_CASES="${AUTOBAHN_CASES:-1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*,12.*,13.*}"
AUTOBAHN_OUT="${AUTOBAHN_OUT:-}"
PORT=""
BUILD=1

while [ $# -gt 0 ]; do
    case "$1" in
        --setup) SETUP_DIR="${2:?--setup needs a directory}"; shift 2 ;;
        --autobahn) AUTOBAHN_DIR="${2:?--autobahn needs a directory}"; shift 2 ;;
        --venv) AUTOBAHN_VENV="${2:?--venv needs a directory}"; shift 2 ;;
        --python) AUTOBAHN_PYTHON="${2:?--python needs an executable}"; shift 2 ;;
        --runtime) RUNTIME="${2:?--runtime needs a name}"; shift 2 ;;
        --cases) AUTOBAHN_CASES="${2:?--cases needs a list}"; shift 2 ;;
        --outdir) AUTOBAHN_OUT="${2:?--outdir needs a directory}"; shift 2 ;;
        --port) PORT="${2:?--port needs a number}"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

# --- setup: a virtualenv with exactly the versions the port's uv.lock pins --
# The lock is resolved for Python >= 3.12 but the pinned wheels also run on
# 3.11. It pins some packages twice (older ones for x86_64 macOS only), so the
# requirements are read off the lock by walking the dependency graph from the
# suite's own entry and evaluating each edge's marker for this interpreter,
# with the `packaging` that pip vendors (no extra install needed for that).
if [ -n "$SETUP_DIR" ]; then
    [ -f "$SETUP_DIR/uv.lock" ] || die "$SETUP_DIR has no uv.lock: not an autobahn-testsuite checkout"
    venv="${AUTOBAHN_VENV:-$SETUP_DIR/.venv}"
    "$AUTOBAHN_PYTHON" -m venv "$venv"
    "$venv/bin/python" - "$SETUP_DIR/uv.lock" > "$venv/requirements.txt" <<'EOF'
import sys, tomllib
from pip._vendor.packaging.markers import Marker

lock = tomllib.load(open(sys.argv[1], "rb"))
by_name = {}
for p in lock["package"]:
    by_name.setdefault(p["name"], []).append(p)

pins, todo = {}, [("autobahntestsuite", None, ())]
while todo:
    name, version, extras = todo.pop()
    cands = [p for p in by_name[name] if version is None or p["version"] == version]
    assert len(cands) == 1, f"{name}: {len(cands)} candidates in uv.lock"
    pkg = cands[0]
    if name != "autobahntestsuite":  # the suite itself runs from PYTHONPATH
        pins[name] = pkg["version"]
    edges = list(pkg.get("dependencies", []))
    for extra in extras:
        edges += pkg.get("optional-dependencies", {}).get(extra, [])
    for dep in edges:
        if "marker" in dep and not Marker(dep["marker"]).evaluate():
            continue
        todo.append((dep["name"], dep.get("version"), tuple(dep.get("extra", ()))))
for name in sorted(pins):
    print(f"{name}=={pins[name]}")
EOF
    "$venv/bin/pip" install --quiet --upgrade pip
    # Every transitive dependency is pinned, so pip only checks, never picks.
    "$venv/bin/pip" install --quiet -r "$venv/requirements.txt"
    echo "venv ready: $venv (pins in $venv/requirements.txt)"
    echo "run: $0 --autobahn $SETUP_DIR --runtime async-std|smol|tokio"
    exit 0
fi

# --- run -----------------------------------------------------------------
[ -n "$AUTOBAHN_DIR" ] || die "--autobahn DIR (or AUTOBAHN_DIR) is required; --help for more"
[ -d "$AUTOBAHN_DIR/autobahntestsuite/autobahntestsuite" ] || die "$AUTOBAHN_DIR is not an autobahn-testsuite checkout"
AUTOBAHN_VENV="${AUTOBAHN_VENV:-$AUTOBAHN_DIR/.venv}"
PY="$AUTOBAHN_VENV/bin/python"
[ -x "$PY" ] || die "no venv at $AUTOBAHN_VENV: run $0 --setup $AUTOBAHN_DIR first"

case "$RUNTIME" in
    async-std) FEATURES=() ;;  # the default features
    smol|tokio) FEATURES=(--no-default-features --features "$RUNTIME,rustls,ring,deflate") ;;
    *) die "--runtime must be async-std, smol or tokio, not $RUNTIME" ;;
esac
OUT="${AUTOBAHN_OUT:-/tmp/autobahn-$RUNTIME}"
mkdir -p "$OUT"
ECHO="$ROOT/target/release/examples/echo"

if [ "$BUILD" = 1 ]; then
    # All three runtimes build to the same path: build right before the run.
    (cd "$ROOT" && cargo build --release --example echo "${FEATURES[@]}")
fi
[ -x "$ECHO" ] || die "no $ECHO: build it or drop --no-build"

# A free port: bind port 0 and let the kernel pick. The socket is closed
# before the server binds it, a small race that is harmless on loopback.
if [ -z "$PORT" ]; then
    PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
fi

"$ECHO" --addr "127.0.0.1:$PORT" > "$OUT/server.log" 2>&1 &
SERVER_PID=$!
# Whatever happens, stop the server we started, and only it.
trap 'kill "$SERVER_PID" 2>/dev/null || true' EXIT

# Wait until it accepts connections, rather than sleeping a guessed time.
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
    kill -0 "$SERVER_PID" 2>/dev/null || die "the echo server exited: $(cat "$OUT/server.log")"
    sleep 0.1
done

# The spec: one server, the cases asked for, and the suite's default options
# (no failByDrop override). The agent name becomes the report's file names.
AGENT="wsgate-$RUNTIME"
rm -rf "$OUT/reports"
"$PY" - "$OUT/spec.json" "$AGENT" "ws://127.0.0.1:$PORT" "$AUTOBAHN_CASES" "$OUT/reports" <<'EOF'
import json, sys
path, agent, url, cases, outdir = sys.argv[1:]
json.dump({"outdir": outdir,
           "servers": [{"agent": agent, "url": url}],
           "cases": [c.strip() for c in cases.split(",") if c.strip()],
           "exclude-cases": [], "exclude-agent-cases": {}},
          open(path, "w"), indent=2)
EOF

# wstest, run through a shim that leaves the checkout untouched. Why: case
# 7.3.2 sends the close reason b"a", which the suite keeps as bytes in the
# case's record; after all cases ran, writing that case's JSON report raises
# "Object of type bytes is not JSON serializable" inside a Twisted callback,
# so no per-case report after 7.3.2 is written and the reactor never stops
# (wstest hangs; index.json, written first, is complete). The shim lets the
# report writer encode bytes as text; nothing else changes.
WSTEST_SHIM='
import json, runpy, sys
encode = json.JSONEncoder.default
def default(self, o):
    if isinstance(o, (bytes, bytearray)):
        return o.decode("utf-8", "backslashreplace")
    return encode(self, o)
json.JSONEncoder.default = default
sys.argv[0] = "wstest"
runpy.run_module("autobahntestsuite.wstest", run_name="__main__", alter_sys=True)
'
echo "Autobahn fuzzingclient: $AGENT at ws://127.0.0.1:$PORT, cases $AUTOBAHN_CASES" >&2
START=$(date +%s)
# Run in $OUT (wstest writes nothing to the current directory anyway).
(cd "$OUT" && PYTHONPATH="$AUTOBAHN_DIR/autobahntestsuite${PYTHONPATH:+:$PYTHONPATH}" \
    exec "$PY" -c "$WSTEST_SHIM" -m fuzzingclient -s "$OUT/spec.json") > "$OUT/wstest.log" 2>&1 &
WSTEST_PID=$!
trap 'kill "$SERVER_PID" "$WSTEST_PID" 2>/dev/null || true' EXIT
# Watchdog for any other error in the report writer (see above): once
# index.json exists the cases are over; give the rest a minute, then stop
# wstest (SIGTERM stops Twisted's reactor) and go on with index.json.
while kill -0 "$WSTEST_PID" 2>/dev/null && [ ! -s "$OUT/reports/index.json" ]; do sleep 1; done
WALL=$(( $(date +%s) - START ))
for _ in $(seq 60); do kill -0 "$WSTEST_PID" 2>/dev/null || break; sleep 1; done
if kill -0 "$WSTEST_PID" 2>/dev/null; then
    echo "autobahn.sh: wstest still running 60 s after index.json; stopping it (see $OUT/wstest.log)" >&2
    kill -TERM "$WSTEST_PID" 2>/dev/null || true
fi
wait "$WSTEST_PID" || echo "autobahn.sh: wstest exited with status $?, see $OUT/wstest.log" >&2
[ -s "$OUT/reports/index.json" ] || die "wstest wrote no index.json, see $OUT/wstest.log"
if grep -q '^Traceback' "$OUT/wstest.log"; then
    echo "autobahn.sh: wstest logged an error, see $OUT/wstest.log" >&2
fi

# Server-side cost of the run, read before stopping it: CPU seconds
# (utime + stime, in clock ticks) and peak resident memory.
SERVER_NOTE="server exited during the run"
if [ -r "/proc/$SERVER_PID/stat" ]; then
    ticks=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$SERVER_PID/status")
    SERVER_NOTE="server CPU $(( ticks / $(getconf CLK_TCK) )) s, peak RSS $(( hwm / 1024 )) MiB"
fi
kill -TERM "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true   # graceful shutdown, at most ~5 s
trap - EXIT

echo
echo "**$RUNTIME**: $(date -u +%F), wall $((WALL / 60)) min $((WALL % 60)) s ($WALL s), $SERVER_NOTE"
echo
# The table: each case counted by its `behavior` (behaviorClose is listed
# separately when it is not OK, for information). Exit 1 on any FAILED.
"$PY" - "$OUT/reports/index.json" "$AGENT" "$OUT/reports" <<'EOF'
import json, sys
index, agent, outdir = sys.argv[1:]
cases = json.load(open(index))[agent]
names = {1: "Framing", 2: "Pings/Pongs", 3: "Reserved bits", 4: "Opcodes",
         5: "Fragmentation", 6: "UTF-8 handling", 7: "Close handling",
         9: "Limits/performance", 10: "Misc",
         12: "permessage-deflate: echo, default offer",
         13: "permessage-deflate: echo, each parameter"}
cols = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
key = lambda c: tuple(int(x) for x in c.split("."))
groups, odd = {}, []
for case in sorted(cases, key=key):
    b = cases[case]["behavior"]
    if b not in cols:  # not expected from the suite; count it against us
        odd.append(f"{case} ({b})")
        b = "FAILED"
    groups.setdefault(key(case)[0], dict.fromkeys(cols, 0))[b] += 1
print("| Group | " + " | ".join(cols) + " | Total |")
print("|---|" + "---:|" * (len(cols) + 1))
total = dict.fromkeys(cols, 0)
for g, n in sorted(groups.items()):
    for c in cols:
        total[c] += n[c]
    print(f"| {g} {names.get(g, '')} | " + " | ".join(str(n[c]) for c in cols)
          + f" | {sum(n.values())} |")
print("| **Total** | " + " | ".join(f"**{total[c]}**" for c in cols)
      + f" | **{sum(total.values())}** |")
print()
for b in cols[1:]:
    ids = [c for c in sorted(cases, key=key) if cases[c]["behavior"] == b]
    if ids:
        print(f"{b}: {', '.join(ids)}")
close = [f"{c} ({cases[c]['behaviorClose']})" for c in sorted(cases, key=key)
         if cases[c]["behaviorClose"] not in ("OK", "INFORMATIONAL")]
if close:
    print(f"behaviorClose not OK: {', '.join(close)}")
if odd:
    print(f"unknown behavior, counted FAILED: {', '.join(odd)}")
failed = [c for c in cases if cases[c]["behavior"] not in cols[:4]]
if failed:
    print(f"details: the per-case JSON/HTML in {outdir}")
sys.exit(1 if failed else 0)
EOF
