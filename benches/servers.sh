# The echo servers the benchmark scripts run, by name; sourced by
# compare.sh, syscalls.sh and instructions.sh after they set ROOT and
# COMPARE.
# shellcheck shell=bash
declare -A CMD
# wsgate's examples/echo.rs, one build per runtime. The three builds share
# target/release (only wsgate itself differs between them), so each binary
# is copied aside into target/compare/ after its build (build_wsgate_echo
# below); one never stands in for another.
CMD[wsgate]="$ROOT/target/compare/echo-async-std"
CMD[wsgate-smol]="$ROOT/target/compare/echo-smol"
CMD[wsgate-tokio]="$ROOT/target/compare/echo-tokio"
CMD[fastwebsockets]="$COMPARE/target/release/fastwebsockets-echo"
CMD[tokio-tungstenite]="$COMPARE/target/release/tokio-tungstenite-echo"
CMD[async-tungstenite]="$COMPARE/target/release/async-tungstenite-echo"
CMD[node-ws]="node $COMPARE/node/server.js"

# The cargo features of each wsgate build: the defaults (async-std), smol,
# tokio (sockets registered with tokio's reactor through AsyncFd).
declare -A WSGATE_FEATURES
WSGATE_FEATURES[async-std]=""
WSGATE_FEATURES[smol]="--no-default-features --features smol,rustls,ring,deflate"
WSGATE_FEATURES[tokio]="--no-default-features --features tokio,rustls,ring,deflate"

# Builds examples/echo.rs for each runtime into target/compare/echo-RUNTIME,
# and examples/loadgen.rs (default features: async-std) last, so
# target/release/examples/ holds the default build afterwards.
build_wsgate_echo() {
  local rt
  mkdir -p "$ROOT/target/compare"
  for rt in smol tokio async-std; do
    # shellcheck disable=SC2086
    (cd "$ROOT" && cargo build --release ${WSGATE_FEATURES[$rt]} --example echo) >&2
    cp "$ROOT/target/release/examples/echo" "$ROOT/target/compare/echo-$rt.tmp"
    mv "$ROOT/target/compare/echo-$rt.tmp" "$ROOT/target/compare/echo-$rt"
  done
  (cd "$ROOT" && cargo build --release --example loadgen) >&2
}
