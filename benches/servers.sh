# The echo servers the benchmark scripts run, by name; sourced by
# compare.sh and syscalls.sh after they set ROOT and COMPARE.
# shellcheck shell=bash
declare -A CMD
CMD[wsgate]="$ROOT/target/release/examples/echo"
CMD[fastwebsockets]="$COMPARE/target/release/fastwebsockets-echo"
CMD[tokio-tungstenite]="$COMPARE/target/release/tokio-tungstenite-echo"
CMD[async-tungstenite]="$COMPARE/target/release/async-tungstenite-echo"
CMD[wsgate-tokio]="$COMPARE/target/release/wsgate-tokio-echo"
CMD[node-ws]="node $COMPARE/node/server.js"
